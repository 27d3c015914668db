"""Micro-benchmark: a generic JSON-to-dataclass decoder vs the hand-rolled wire codec.

On replay every operation of the history is decoded once from the invocation
envelope (epoch-millisecond timestamps, PascalCase keys). This compares, per
operation:

* ``durable_exec._wire.Operation.from_wire`` (one dictionary pass, no reflection);
* an equivalent ``dataclasses-json`` model (``DataClassJsonMixin``, PascalCase
  letter case, nested detail and error classes, enums, the same ms -> seconds
  conversion), decoded with ``Model.from_dict``;
* for reference, the official SDK's ``Operation.from_json_dict`` when installed.

Run alone with ``python -m benchmarks.decode``.
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
import time
from collections.abc import Callable
from typing import Any

from dataclasses_json import DataClassJsonMixin, LetterCase, config

__all__ = ["DECODERS", "OperationDJ", "measure_decoders", "sample_operations"]

_PASCAL = config(letter_case=LetterCase.PASCAL)["dataclasses_json"]


def _ms_to_seconds(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


_TS = config(decoder=_ms_to_seconds)


class OpTypeDJ(enum.Enum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OpStatusDJ(enum.Enum):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


@dataclasses.dataclass
class ErrorObjectDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    error_message: str | None = None
    error_type: str | None = None
    error_data: str | None = None
    stack_trace: list[str] | None = None


@dataclasses.dataclass
class StepDetailsDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    attempt: int | None = None
    next_attempt_timestamp: float | None = dataclasses.field(default=None, metadata=_TS)
    result: str | None = None
    error: ErrorObjectDJ | None = None


@dataclasses.dataclass
class ContextDetailsDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    replay_children: bool | None = None
    result: str | None = None
    error: ErrorObjectDJ | None = None


@dataclasses.dataclass
class WaitDetailsDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    scheduled_end_timestamp: float | None = dataclasses.field(default=None, metadata=_TS)


@dataclasses.dataclass
class CallbackDetailsDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    callback_id: str | None = None
    result: str | None = None
    error: ErrorObjectDJ | None = None


@dataclasses.dataclass
class ExecutionDetailsDJ(DataClassJsonMixin):
    dataclass_json_config = _PASCAL
    input_payload: str | None = None


@dataclasses.dataclass
class OperationDJ(DataClassJsonMixin):
    """``Operation`` as a dataclasses-json model (PascalCase on the wire)."""

    dataclass_json_config = _PASCAL
    id: str
    type: OpTypeDJ
    status: OpStatusDJ
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    start_timestamp: float | None = dataclasses.field(default=None, metadata=_TS)
    end_timestamp: float | None = dataclasses.field(default=None, metadata=_TS)
    step_details: StepDetailsDJ | None = None
    context_details: ContextDetailsDJ | None = None
    wait_details: WaitDetailsDJ | None = None
    callback_details: CallbackDetailsDJ | None = None
    execution_details: ExecutionDetailsDJ | None = None


def sample_operations(n: int = 1000) -> list[dict[str, Any]]:
    """A replay-shaped history: mostly completed steps, some contexts and a wait (envelope form)."""
    from durable_exec._ids import operation_id

    base = 1_764_000_000_000
    ops: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        op_id = operation_id(None, i)
        if i % 10 == 0:
            ops.append(
                {
                    "Id": op_id,
                    "Type": "CONTEXT",
                    "Status": "SUCCEEDED",
                    "Name": f"ctx{i}",
                    "SubType": "RunInChildContext",
                    "StartTimestamp": base + i,
                    "EndTimestamp": base + i + 1,
                    "ContextDetails": {"Result": str(i), "ReplayChildren": False},
                }
            )
        elif i % 50 == 1:
            ops.append(
                {
                    "Id": op_id,
                    "Type": "WAIT",
                    "Status": "SUCCEEDED",
                    "SubType": "Wait",
                    "StartTimestamp": base + i,
                    "EndTimestamp": base + i + 1000,
                    "WaitDetails": {"ScheduledEndTimestamp": base + i + 1000},
                }
            )
        else:
            ops.append(
                {
                    "Id": op_id,
                    "Type": "STEP",
                    "Status": "SUCCEEDED",
                    "Name": f"s{i}",
                    "SubType": "Step",
                    "StartTimestamp": base + i,
                    "EndTimestamp": base + i + 1,
                    "StepDetails": {"Attempt": 1, "Result": str(i)},
                }
            )
    return ops


def _ours() -> Callable[[dict[str, Any]], Any]:
    from durable_exec._wire import Operation

    return Operation.from_wire


def _dataclasses_json() -> Callable[[dict[str, Any]], Any]:
    return OperationDJ.from_dict


def _official() -> Callable[[dict[str, Any]], Any] | None:
    try:
        from aws_durable_execution_sdk_python.lambda_service import Operation
    except ImportError:
        return None
    return Operation.from_json_dict


DECODERS: dict[str, Callable[[], Callable[[dict[str, Any]], Any] | None]] = {
    "durable_exec Operation.from_wire": _ours,
    "dataclasses-json OperationDJ.from_dict": _dataclasses_json,
    "official Operation.from_json_dict": _official,
}


def measure_decoders(n_ops: int = 2000, reps: int = 7) -> dict[str, float]:
    """Return the median decode cost per operation, in microseconds, per decoder."""
    ops = sample_operations(n_ops)
    decoded = OperationDJ.from_dict(ops[1])
    assert decoded.step_details is not None
    assert decoded.step_details.result == "2"
    assert decoded.type is OpTypeDJ.STEP
    out: dict[str, float] = {}
    for label, factory in DECODERS.items():
        decode = factory()
        if decode is None:
            continue
        for op in ops[:50]:  # warm up
            decode(op)
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            for op in ops:
                decode(op)
            samples.append((time.perf_counter() - started) / len(ops) * 1e6)
        out[label] = statistics.median(samples)
    return out


def main() -> int:
    results = measure_decoders()
    ours = results["durable_exec Operation.from_wire"]
    for label, micros in results.items():
        print(f"{label:42} {micros:8.2f} us/op  ({micros / ours:5.1f}x durable_exec)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
