"""Typed payloads: what a declared result type costs per operation.

Each workload runs ``N`` steps, a 1 s wait and one more step against the shared fake
client (``benchmarks/fake_client.py``), so the first invocation runs ``N`` steps (each
result serialised and read back) and the second replays them (each stored result read
back only). The steps return the same order line as:

* ``dict``: an untyped dict (``str``, ``int``, ``Decimal``, ``datetime``, a list of dicts);
* ``dict[str, Any]``: the same dict under a plain annotation (checked, stored identically);
* ``dataclass``: a dataclass with a nested dataclass list and an enum;
* ``dataclass (dataclasses-json)``: the same classes carrying dataclasses-json
  configuration (camelCase keys), which dataclasses-json then builds;
* ``pydantic``: the equivalent pydantic v2 model (skipped when pydantic is missing).

Figures are medians of ``--reps`` runs, per operation, with the extra over ``dict``.
A second table times the serdes alone (``TypedSerDes`` vs the extended-type serdes on the
same data), and a fresh process measures the one-off cost of the first typed dataclass
(importing dataclasses-json).

Run alone with ``python -m benchmarks.typed [--n 500] [--reps 5]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import decimal
import enum
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dataclasses_json import LetterCase, dataclass_json

from benchmarks.fake_client import run_execution

__all__ = ["WORKLOADS", "main", "measure"]

_REPO = Path(__file__).resolve().parent.parent
_AT = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclasses.dataclass
class Item:
    sku: str
    qty: int
    price: decimal.Decimal


@dataclasses.dataclass
class Line:
    order_id: str
    tier: Tier
    placed_at: datetime.datetime
    items: list[Item]
    note: str | None = None


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclasses.dataclass
class CamelItem:
    sku: str
    qty: int
    price: decimal.Decimal


@dataclass_json(letter_case=LetterCase.CAMEL)
@dataclasses.dataclass
class CamelLine:
    order_id: str
    tier: Tier
    placed_at: datetime.datetime
    items: list[CamelItem]
    note: str | None = None


def _as_dict(i: int) -> dict[str, Any]:
    return {
        "order_id": f"o-{i}",
        "tier": "gold",
        "placed_at": _AT,
        "items": [
            {"sku": "kb-1", "qty": 2, "price": decimal.Decimal("49.90")},
            {"sku": "ms-2", "qty": 1, "price": decimal.Decimal("19.99")},
        ],
        "note": None,
    }


def _as_dataclass(i: int) -> Line:
    return Line(
        f"o-{i}",
        Tier.GOLD,
        _AT,
        [Item("kb-1", 2, decimal.Decimal("49.90")), Item("ms-2", 1, decimal.Decimal("19.99"))],
    )


def _as_camel(i: int) -> CamelLine:
    return CamelLine(
        f"o-{i}",
        Tier.GOLD,
        _AT,
        [
            CamelItem("kb-1", 2, decimal.Decimal("49.90")),
            CamelItem("ms-2", 1, decimal.Decimal("19.99")),
        ],
    )


def _pydantic_model() -> Any:
    try:
        import pydantic
    except ImportError:
        return None

    class ItemModel(pydantic.BaseModel):
        sku: str
        qty: int
        price: decimal.Decimal

    class LineModel(pydantic.BaseModel):
        order_id: str
        tier: Tier
        placed_at: datetime.datetime
        items: list[ItemModel]
        note: str | None = None

    return LineModel


def _step_function(kind: str) -> Callable[[int], Callable[[Any], Any]] | None:
    """Return ``make(i) -> step body`` whose annotation declares the result type of ``kind``."""
    if kind == "dict":

        def make(i: int) -> Callable[[Any], Any]:
            return lambda _: _as_dict(i)

        return make
    if kind == "dict[str, Any]":

        def make_annotated(i: int) -> Callable[[Any], Any]:
            def body(_: Any) -> dict[str, Any]:
                return _as_dict(i)

            return body

        return make_annotated
    if kind == "dataclass":

        def make_dataclass(i: int) -> Callable[[Any], Any]:
            def body(_: Any) -> Line:
                return _as_dataclass(i)

            return body

        return make_dataclass
    if kind == "dataclass (dataclasses-json)":

        def make_camel(i: int) -> Callable[[Any], Any]:
            def body(_: Any) -> CamelLine:
                return _as_camel(i)

            return body

        return make_camel
    model = _pydantic_model()
    if model is None:
        return None

    def make_model(i: int) -> Callable[[Any], Any]:
        value = model.model_validate(
            {**_as_dict(i), "items": [dict(x) for x in _as_dict(i)["items"]]}
        )

        def body(_: Any) -> Any:
            return value

        body.__annotations__["return"] = model
        return body

    return make_model


WORKLOADS = ("dict", "dict[str, Any]", "dataclass", "dataclass (dataclasses-json)", "pydantic")


def _handler(kind: str, n: int) -> Callable[[Any], Any] | None:
    import durable_exec

    make = _step_function(kind)
    if make is None:
        return None

    def build(client: Any) -> Any:
        @durable_exec.durable_execution(boto3_client=client)
        def handler(event: Any, ctx: Any) -> Any:
            for i in range(n):
                ctx.step(make(i), name=f"s{i}")
            ctx.wait(durable_exec.Duration(1), name="pause")
            return ctx.step(lambda _: 1, name="after")

        return handler

    return build


def measure(n: int, reps: int) -> list[dict[str, Any]]:
    """Per-operation first-run and replay wall time of each workload (medians).

    Workloads alternate within each repetition (the order rotates), so machine noise
    lands on all of them alike.
    """
    builds = {kind: _handler(kind, n) for kind in WORKLOADS}
    runnable = [kind for kind, build in builds.items() if build is not None]
    first: dict[str, list[float]] = {kind: [] for kind in runnable}
    replay: dict[str, list[float]] = {kind: [] for kind in runnable}
    for kind in runnable:
        run_execution(builds[kind])  # warm-up: lazy imports, caches
    for rep in range(reps):
        order = runnable[rep % len(runnable) :] + runnable[: rep % len(runnable)]
        for kind in order:
            record = run_execution(builds[kind])
            assert record.status == "SUCCEEDED", record.status
            first[kind].append(record.invocations[0].wall / n)
            replay[kind].append(record.invocations[1].wall / n)
    rows: list[dict[str, Any]] = []
    for kind in WORKLOADS:
        if kind not in runnable:
            rows.append({"workload": kind, "skipped": "pydantic is not installed"})
            continue
        rows.append(
            {
                "workload": kind,
                "first_run_us": statistics.median(first[kind]) * 1e6,
                "replay_us": statistics.median(replay[kind]) * 1e6,
            }
        )
    return rows


def measure_serdes(rounds: int) -> list[dict[str, Any]]:
    """The serdes alone: store and read back one value, and read back only."""
    from durable_exec import ExtendedTypeSerDes, SerDesContext, TypedSerDes

    ctx = SerDesContext("op", "arn")
    cases: list[tuple[str, Any, Any]] = [
        ("dict (extended serdes)", ExtendedTypeSerDes(), _as_dict(1)),
        ("dict[str, Any]", TypedSerDes(dict[str, Any]), _as_dict(1)),
        ("dataclass", TypedSerDes(Line), _as_dataclass(1)),
        ("dataclass (dataclasses-json)", TypedSerDes(CamelLine), _as_camel(1)),
    ]
    model = _pydantic_model()
    if model is not None:
        value = model.model_validate({**_as_dict(1), "items": list(_as_dict(1)["items"])})
        cases.append(("pydantic", TypedSerDes(model), value))
    rows = []
    for label, serdes, value in cases:
        payload = serdes.serialize(value, ctx)
        serdes.deserialize(payload, ctx)  # warm-up
        samples_rt, samples_read = [], []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(rounds):
                serdes.deserialize(serdes.serialize(value, ctx), ctx)
            samples_rt.append((time.perf_counter() - start) / rounds)
            start = time.perf_counter()
            for _ in range(rounds):
                serdes.deserialize(payload, ctx)
            samples_read.append((time.perf_counter() - start) / rounds)
        rows.append(
            {
                "serdes": label,
                "round_trip_us": statistics.median(samples_rt) * 1e6,
                "read_us": statistics.median(samples_read) * 1e6,
                "bytes": len(payload or ""),
            }
        )
    return rows


_FIRST_USE = """
import time, sys, dataclasses
from durable_exec import TypedSerDes, SerDesContext
@dataclasses.dataclass
class Point:
    x: int = dataclasses.field(metadata={"dataclasses_json": {"letter_case": str.upper}})
t = time.perf_counter()
s = TypedSerDes(Point)
s.deserialize(s.serialize(Point(1), SerDesContext()), SerDesContext())
print(time.perf_counter() - t, "dataclasses_json" in sys.modules)
"""


def first_use_seconds(samples: int = 5) -> float:
    """The one-off cost of the first dataclasses-json-configured class in a process (median)."""
    values = []
    for _ in range(samples + 1):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_USE],
            capture_output=True,
            text=True,
            check=True,
            cwd=_REPO,
            env={"PYTHONPATH": str(_REPO), "PATH": ""},
        )
        seconds, loaded = done.stdout.split()
        assert loaded == "True"
        values.append(float(seconds))
    return statistics.median(values[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.typed", description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="steps per workload")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (medians)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    rows = measure(args.n, args.reps)
    base = next(r for r in rows if r["workload"] == "dict")
    print(f"## Typed payloads: per operation (N = {args.n}, median of {args.reps})\n")
    print("| result | first run | extra | replay | extra |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        if "skipped" in row:
            print(f"| {row['workload']} | skipped: {row['skipped']} | | | |")
            continue
        print(
            f"| {row['workload']} | {row['first_run_us']:.1f} us "
            f"| {row['first_run_us'] - base['first_run_us']:+.1f} us "
            f"| {row['replay_us']:.1f} us | {row['replay_us'] - base['replay_us']:+.1f} us |"
        )
    serdes_rows = measure_serdes(2000)
    print("\n| serdes alone | store + read back | read back (replay) | payload |")
    print("|---|---:|---:|---:|")
    for row in serdes_rows:
        print(
            f"| {row['serdes']} | {row['round_trip_us']:.1f} us | {row['read_us']:.1f} us "
            f"| {row['bytes']} B |"
        )
    first = first_use_seconds()
    print(
        "\nfirst dataclass with dataclasses-json configuration in a process "
        f"(imports dataclasses-json): {first * 1e3:.1f} ms"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"operations": rows, "serdes": serdes_rows, "first_use_s": first}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
