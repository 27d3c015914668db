"""The Gantt chart of one execution, laid out across its invocations.

A durable execution's time is spent in two very different ways: inside
invocations, where its code runs (often milliseconds, and exactly zero in
virtual time), and between them, in waits, retry delays and callbacks that
may last days. A linear time axis shows one or the other, never both. So the
axis is cut into *pieces*, one per invocation and one per gap between
invocations, each given a share of the width:

* ``compact`` (the default): a piece's share grows with the square root of its
  duration, with a floor, so a five-minute wait and a 2 ms invocation are both
  visible and still ordered by size;
* ``linear``: shares are proportional to duration (an instantaneous
  invocation keeps a sliver so that its operations can be seen).

Inside a piece that lasted no time at all (every invocation in virtual time),
events are placed by their order in the history instead of by time, so the
steps of one invocation read left to right in the order they ran.

Each operation gets a *lane* of segments: a step's attempts (and the retry
delays between them), a wait, a callback's time waiting for an answer, a
child context, a chained invoke. Positions are fractions of the width (0 to
1) computed here, so the browser only draws boxes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Final, Literal

from durable_exec._cli._view import ExecutionView, epoch_of, split_event_type

__all__ = ["Scale", "build_timeline"]

Scale = Literal["compact", "linear"]

_SEGMENT_KIND: Final = {
    "STEP": "attempt",
    "WAIT": "wait",
    "CALLBACK": "callback",
    "CONTEXT": "context",
    "CHAINED_INVOKE": "invoke",
}
_ENDINGS: Final = {
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}
# Events the service records between invocations (timers firing, callbacks answered,
# chained invokes ending, the execution ending from outside): placed by time, never
# inside an invocation.
_OUTSIDE: Final = frozenset(
    {
        "WaitSucceeded",
        "WaitCancelled",
        "CallbackSucceeded",
        "CallbackFailed",
        "CallbackTimedOut",
        "ChainedInvokeSucceeded",
        "ChainedInvokeFailed",
        "ChainedInvokeTimedOut",
        "ChainedInvokeStopped",
        "ExecutionStarted",
        "ExecutionTimedOut",
        "ExecutionStopped",
        "InvocationCompleted",
    }
)
# Width shares: the floor of a piece in compact scale, and of an instantaneous
# invocation in linear scale (fractions of the weights' total before normalising).
_COMPACT_INVOCATION_FLOOR: Final = 0.12
_COMPACT_GAP_FLOOR: Final = 0.05
_LINEAR_INSTANT_SHARE: Final = 0.02
_NEGLIGIBLE_GAP: Final = 0.001


@dataclasses.dataclass(slots=True)
class _Piece:
    """A stretch of the axis: one invocation, or the gap before/after one."""

    kind: Literal["invocation", "gap"]
    t0: float
    t1: float
    owned: dict[int, int] = dataclasses.field(default_factory=dict)  # event index -> rank
    index: int | None = None  # the invocation's number, from 1
    error: dict[str, Any] | None = None
    running: bool = False
    x0: float = 0.0
    x1: float = 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.t1 - self.t0)


@dataclasses.dataclass(slots=True)
class _Segment:
    kind: str
    start: float
    start_event: int
    status: str = "STARTED"
    end: float | None = None
    end_event: int | None = None
    attempt: int | None = None
    due: float | None = None
    error_type: str | None = None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    details = event.get(f"{event.get('EventType', '')}Details")
    return details if isinstance(details, dict) else {}


def _error_type(details: dict[str, Any]) -> str | None:
    error = details.get("Error")
    payload = error.get("Payload") if isinstance(error, dict) else None
    if isinstance(payload, dict) and payload.get("ErrorType"):
        return str(payload["ErrorType"])
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _inside(event: dict[str, Any]) -> bool:
    """Whether the event is the handler's doing (not a timer, an answer or the service's)."""
    return str(event.get("EventType", "")) not in _OUTSIDE


def _lanes(events: Sequence[dict[str, Any]], times: Sequence[float]) -> dict[str, list[_Segment]]:
    """Fold each operation's events into its segments (attempts, delays, waits ...)."""
    lanes: dict[str, list[_Segment]] = {}
    for index, event in enumerate(events):
        op_type, suffix = split_event_type(str(event.get("EventType", "")))
        op_id = event.get("Id")
        if op_type not in _SEGMENT_KIND or not isinstance(op_id, str):
            continue
        when = times[index]
        details = _details(event)
        segments = lanes.setdefault(op_id, [])
        last = segments[-1] if segments else None
        if last is not None and last.end is not None:
            last = None
        if suffix == "Started":
            if last is not None:  # a retry delay (or a restarted attempt) ends here
                last.end, last.end_event = when, index
                if last.kind != "retry":
                    last.status = "INTERRUPTED"
            kind = _SEGMENT_KIND[op_type]
            segment = _Segment(kind, when, index)
            if kind == "attempt":
                segment.attempt = 1 + sum(1 for s in segments if s.kind == "attempt")
            elif kind == "wait":
                segment.due = epoch_of(details.get("ScheduledEndTimestamp"))
            elif kind == "callback":
                timeout = _number(details.get("Timeout"))
                segment.due = when + timeout if timeout else None
            segments.append(segment)
            continue
        status = _ENDINGS.get(suffix)
        if status is None:
            continue
        if last is None or last.kind == "retry":
            if last is not None:
                last.end, last.end_event = when, index
            last = _Segment(_SEGMENT_KIND[op_type], when, index)
            segments.append(last)
        last.end, last.end_event, last.status = when, index, status
        last.error_type = _error_type(details)
        retry = details.get("RetryDetails")
        delay = _number(retry.get("NextAttemptDelaySeconds")) if isinstance(retry, dict) else None
        if op_type == "STEP" and status == "FAILED" and delay is not None:
            last.status = "RETRYING"
            segments.append(_Segment("retry", when, index, "PENDING", due=when + delay))
    return lanes


def _pieces(
    events: Sequence[dict[str, Any]],
    times: Sequence[float],
    origin: float,
    finish: float,
    running_invocation: bool,
) -> list[_Piece]:
    """Cut [origin, finish] into invocations and the gaps between them."""
    invocations: list[_Piece] = []
    previous = -1
    for index, event in enumerate(events):
        if event.get("EventType") != "InvocationCompleted":
            continue
        details = _details(event)
        start = epoch_of(details.get("StartTimestamp"))
        end = epoch_of(details.get("EndTimestamp"))
        end = times[index] if end is None else end
        start = end if start is None else min(start, end)
        owned = [i for i in range(previous + 1, index) if times[i] >= start and _inside(events[i])]
        error = details.get("Error")
        payload = error.get("Payload") if isinstance(error, dict) else None
        invocations.append(
            _Piece(
                "invocation",
                start,
                end,
                {event: rank for rank, event in enumerate(owned)},
                len(invocations) + 1,
                payload if isinstance(payload, dict) else None,
            )
        )
        previous = index
    if running_invocation:
        owned = [i for i in range(previous + 1, len(events)) if _inside(events[i])]
        start = times[owned[0]] if owned else finish
        invocations.append(
            _Piece(
                "invocation",
                start,
                finish,
                {event: rank for rank, event in enumerate(owned)},
                len(invocations) + 1,
                running=True,
            )
        )
    pieces: list[_Piece] = []
    cursor = origin
    for invocation in invocations:
        invocation.t0 = max(invocation.t0, cursor)
        invocation.t1 = max(invocation.t1, invocation.t0)
        if invocation.t0 > cursor:
            pieces.append(_Piece("gap", cursor, invocation.t0))
        pieces.append(invocation)
        cursor = invocation.t1
    if finish > cursor or not pieces:
        pieces.append(_Piece("gap", cursor, max(cursor, finish)))
    return pieces


def _layout(pieces: list[_Piece], scale: Scale) -> None:
    """Give each piece its share of the width (x0, x1 in [0, 1])."""
    total = sum(piece.duration for piece in pieces)
    weights = []
    for index, piece in enumerate(pieces):
        share = piece.duration / total if total > 0 else 0.0
        if scale == "linear":
            weight = share if share > 0 else _LINEAR_INSTANT_SHARE
        elif piece.kind == "invocation":
            weight = max(_COMPACT_INVOCATION_FLOOR, math.sqrt(share))
        elif index == 0 and len(pieces) > 1:
            # Start-up before the first invocation (dispatch latency) is drawn to scale.
            weight = share
        else:
            # A gap too short to matter (start-up before the first invocation) stays thin.
            floor = _COMPACT_GAP_FLOOR if share >= _NEGLIGIBLE_GAP else 0.0
            weight = max(floor, math.sqrt(share))
        weights.append(weight)
    whole = sum(weights) or 1.0
    x = 0.0
    for piece, weight in zip(pieces, weights, strict=True):
        piece.x0 = x
        x += weight / whole
        piece.x1 = x
    pieces[-1].x1 = 1.0


class _Axis:
    """Maps (time, event index) to a fraction of the width, through the pieces."""

    def __init__(self, pieces: list[_Piece]) -> None:
        self.pieces = pieces

    def x(self, when: float, event: int | None = None) -> float:
        piece = self._piece(when, event)
        width = piece.x1 - piece.x0
        if piece.duration > 0:
            fraction = (when - piece.t0) / piece.duration
        elif event is not None and event in piece.owned:
            fraction = (piece.owned[event] + 0.5) / len(piece.owned)
        else:
            fraction = 0.0 if when <= piece.t0 else 1.0
        return piece.x0 + width * min(1.0, max(0.0, fraction))

    def _piece(self, when: float, event: int | None) -> _Piece:
        if event is not None:
            for piece in self.pieces:
                if event in piece.owned:
                    return piece
        for piece in self.pieces:
            if when < piece.t1 or (when <= piece.t1 and piece.duration > 0):
                return piece
        return self.pieces[-1]


def build_timeline(
    view: ExecutionView,
    now: float,
    *,
    scale: Scale = "compact",
    running_invocation: bool = False,
) -> dict[str, Any]:
    """Lay ``view`` out as a Gantt chart: pieces of axis, invocations, one lane per operation.

    Args:
        view: The execution (its history events are what is drawn).
        now: The execution's current time (its virtual time in virtual mode):
            where running segments end.
        scale: ``compact`` or ``linear`` (see the module docstring).
        running_invocation: An invocation is in flight now (it has no
            InvocationCompleted yet): draw it up to ``now``.

    Returns:
        ``{"start", "end", "scale", "pieces": [...], "lanes": {op_id: [...]}}``;
        each piece has ``kind`` (``invocation``/``gap``), ``start``, ``end``,
        ``x0``, ``x1`` (and an invocation its ``index``, ``error``, ``running``);
        each segment has ``kind`` (``attempt``, ``retry``, ``wait``,
        ``callback``, ``context``, ``invoke``), ``status``, ``start``, ``end``
        (``None`` while it runs), ``due`` (a wait's or retry's planned end, a
        callback's timeout), ``attempt``, ``error_type``, ``x0`` and ``x1``.
    """
    events = view.events
    times: list[float] = []
    fallback = view.start if view.start is not None else now
    for event in events:
        when = epoch_of(event.get("EventTimestamp"))
        fallback = when if when is not None else fallback
        times.append(fallback)
    origin = view.start if view.start is not None else (times[0] if times else now)
    latest = max(times, default=origin)
    finish = max(view.end if view.end is not None else max(now, latest), origin)
    pieces = _pieces(events, times, origin, finish, running_invocation and view.end is None)
    _layout(pieces, scale)
    axis = _Axis(pieces)
    lanes: dict[str, list[dict[str, Any]]] = {}
    for op_id, segments in _lanes(events, times).items():
        drawn = []
        for segment in segments:
            x0 = axis.x(segment.start, segment.start_event)
            if segment.end is None:
                x1 = 1.0 if view.end is None else axis.x(finish)
            else:
                x1 = axis.x(segment.end, segment.end_event)
            drawn.append(
                {
                    "kind": segment.kind,
                    "status": segment.status,
                    "start": segment.start,
                    "end": segment.end,
                    "due": segment.due,
                    "attempt": segment.attempt,
                    "error_type": segment.error_type,
                    "x0": round(x0, 6),
                    "x1": round(max(x0, x1), 6),
                }
            )
        lanes[op_id] = drawn
    return {
        "start": origin,
        "end": finish,
        "scale": scale,
        "pieces": [
            {
                "kind": piece.kind,
                "start": piece.t0,
                "end": piece.t1,
                "index": piece.index,
                "error": piece.error,
                "running": piece.running,
                "x0": round(piece.x0, 6),
                "x1": round(piece.x1, 6),
            }
            for piece in pieces
        ],
        "lanes": lanes,
    }
