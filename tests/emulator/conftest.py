"""Fixtures of the emulator tests: the emulators, scenarios played on them, scratch space.

See ``emulator_harness.py`` for how the emulator and the Invoke endpoint run.
Everything started here is stopped at the end of the session.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Callable, Iterator

import pytest
from emulator_harness import SCENARIOS, Emulator, Execution


@pytest.fixture(scope="session")
def emulator_workdir() -> Iterator[pathlib.Path]:
    """Scratch space for the emulator logs and handler outputs."""
    with tempfile.TemporaryDirectory(prefix="dex-emulator-") as path:
        yield pathlib.Path(path)


def _started(workdir: pathlib.Path, *, skip_time: bool) -> Iterator[Emulator]:
    try:
        import aws_durable_execution_sdk_python_testing  # noqa: F401
    except ImportError:
        pytest.fail(
            "the emulator tests need the 'emulator' extra: pip install -e '.[test,emulator]' "
            "(or run `tox -e emulator`)"
        )
    emulator = Emulator(workdir, skip_time=skip_time)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def emulator(emulator_workdir: pathlib.Path) -> Iterator[Emulator]:
    """The emulator on real time: exact history order; keep waits to a second or two."""
    yield from _started(emulator_workdir, skip_time=False)


@pytest.fixture(scope="session")
def fast_emulator(emulator_workdir: pathlib.Path) -> Iterator[Emulator]:
    """The emulator with ``--skip-time``: waits and back-offs of any length pass at once."""
    yield from _started(emulator_workdir, skip_time=True)


@pytest.fixture(scope="session")
def played(emulator: Emulator) -> Callable[[str], Execution]:
    """``played(name)``: the finished run of ``SCENARIOS[name]`` on the real-time emulator.

    Each scenario runs once per session; the end-to-end and differential tests share it.
    """
    cache: dict[str, Execution] = {}

    def play(name: str) -> Execution:
        if name not in cache:
            cache[name] = emulator.play(SCENARIOS[name])
        return cache[name]

    return play
