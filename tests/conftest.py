"""Shared fixtures: a virtual clock, an in-memory service, and a runner factory."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from durable_exec.testing import DurableTestRunner, LocalDurableService, VirtualClock

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock: waits and back-offs complete at once."""
    return VirtualClock()


@pytest.fixture
def service(clock: VirtualClock) -> LocalDurableService:
    """An in-memory durable-execution service on the virtual clock."""
    return LocalDurableService(clock)


@pytest.fixture
def make_runner(
    service: LocalDurableService, clock: VirtualClock
) -> Callable[..., DurableTestRunner]:
    """Build a DurableTestRunner sharing the fixture's service and clock."""

    def make(handler: Any, **kwargs: Any) -> DurableTestRunner:
        return DurableTestRunner(handler, service=service, clock=clock, **kwargs)

    return make


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Every test must leave no SDK thread behind."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith("durable")
    ]
    assert not leaked, f"threads left running: {leaked}"
