"""Testing code that reads the wall clock: DurableTestRunner(freeze_wall_clock=True).

Run it:  pytest examples/test_invoice_reminder.py   (needs freezegun: the 'testing' extra)
"""

from __future__ import annotations

import datetime
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from invoice_reminder import handler

from durable_exec.testing import DurableTestRunner, VirtualClock

MONDAY = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


def test_the_reminder_goes_out_three_days_later():
    runner = DurableTestRunner(handler, clock=VirtualClock(MONDAY), freeze_wall_clock=True)
    result = runner.run({"invoice": "inv-7"})
    assert result.result == {
        "invoice": "inv-7",
        "reminded_at": "2026-03-05T09:00:00+00:00",  # Thursday, to the second
        "overdue_days": 3,
    }
