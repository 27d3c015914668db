"""The live progress line ``run`` and ``resume`` draw on a terminal's stderr.

:class:`Progress` is told what happens (an invocation starts, a checkpoint
lands, a real-time wait counts down) and redraws one line, at most ten times
a second. It draws nothing unless enabled (stderr is a TTY and ``--json`` is
off), and :meth:`Progress.clear` erases the line before the final output.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO

from durable_exec._cli._render import format_duration
from durable_exec._clock import Clock

__all__ = ["ObservedClient", "Progress"]

_REDRAW_EVERY: Final = 0.1
_SPINNER: Final = "|/-\\"


class Progress:
    """One status line, redrawn in place.

    Args:
        stream: Where to draw (stderr).
        enabled: Draw at all.
        clock: Elapsed time comes from ``clock.monotonic()``.
    """

    def __init__(self, stream: TextIO, *, enabled: bool, clock: Clock) -> None:
        self._stream = stream
        self.enabled = enabled
        self._clock = clock
        self._started = clock.monotonic()
        self._drawn_at = -1.0
        self._frame = 0
        self._width = 0
        # The checkpoint thread reports too; one line is drawn at a time.
        self._lock = threading.Lock()
        self.execution = ""
        self.invocations = 0
        self.checkpoints = 0
        self.operations = 0
        self.last = ""
        self.waiting = ""

    def invocation(self, execution: str) -> None:
        """Note that an invocation of ``execution`` starts."""
        self.execution = execution
        self.invocations += 1
        self.waiting = ""
        self.draw()

    def checkpoint(self, updates: Sequence[Mapping[str, Any]]) -> None:
        """Note a checkpoint carrying ``updates``."""
        self.checkpoints += 1
        for update in updates:
            if update.get("Action") == "START":
                self.operations += 1
            name = update.get("Name")
            if name:
                self.last = f"{str(update.get('Type', '')).lower()} {name}"
        self.draw()

    def wait(self, seconds: float) -> None:
        """Note a real-time wait of ``seconds`` more (until the next timer is due)."""
        self.waiting = f"next timer in {format_duration(seconds)}"
        self.draw(force=True)

    def draw(self, *, force: bool = False) -> None:
        """Redraw the line (throttled unless ``force``)."""
        if not self.enabled:
            return
        with self._lock:
            self._draw(force=force)

    def _draw(self, *, force: bool) -> None:
        now = self._clock.monotonic()
        if not force and now - self._drawn_at < _REDRAW_EVERY:
            return
        self._drawn_at = now
        self._frame = (self._frame + 1) % len(_SPINNER)
        parts = [
            f"{_SPINNER[self._frame]} {self.execution}",
            f"invocation {self.invocations}",
            f"{self.operations} operations",
        ]
        if self.waiting:
            parts.append(self.waiting)
        elif self.last:
            parts.append(self.last)
        parts.append(f"{now - self._started:.1f}s")
        line = " · ".join(parts)[:200]
        pad = max(0, self._width - len(line))
        self._stream.write("\r" + line + " " * pad)
        self._stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        """Erase the line (before the final output)."""
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


class ObservedClient:
    """Passes the handler's API calls to the service and tells :class:`Progress` about them.

    Args:
        client: The (local) ``lambda`` client.
        progress: Where to report.
    """

    def __init__(self, client: Any, progress: Progress) -> None:
        self._client = client
        self._progress = progress

    def checkpoint_durable_execution(self, **kwargs: Any) -> Any:
        """``CheckpointDurableExecution``, reported to the progress line."""
        response = self._client.checkpoint_durable_execution(**kwargs)
        self._progress.checkpoint(kwargs.get("Updates") or ())
        return response

    def get_durable_execution_state(self, **kwargs: Any) -> Any:
        """``GetDurableExecutionState``, passed through."""
        return self._client.get_durable_execution_state(**kwargs)
