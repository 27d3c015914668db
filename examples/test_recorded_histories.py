"""History replayer: recorded executions must still replay on the current code.

Record a history (any execution of the local store, or one fetched from AWS):

    durable-exec run examples/order_processing.py:handler \\
        --input '{"order_id": "o-42", "items": 3}' --name order-o-42
    durable-exec history order-o-42 --json > examples/histories/order_processing-o-42.json

Check every recorded history from the command line (exit 1 names the first
divergent operation):

    durable-exec replay examples/histories --handler examples/order_processing.py:handler

or as part of the test suite, with the one line below (one test case per file):

    pytest examples/test_recorded_histories.py
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from order_processing import handler  # noqa: E402

from durable_exec.testing import replay_histories_test  # noqa: E402

test_recorded_histories_replay = replay_histories_test(handler, HERE / "histories")
