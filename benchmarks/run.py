"""Measure durable_exec and the official SDK side by side, check the targets, guard regressions.

Usage::

    python -m benchmarks                      # full run (several minutes)
    python -m benchmarks --smoke              # tiny sizes, for CI (well under a minute)
    python -m benchmarks --smoke --check-ratios benchmarks/baseline.json
    python -m benchmarks --write-baseline benchmarks/baseline.json

Both SDKs run in this one process, on the same back end, alternating (the
order flips every repetition), and every figure is a median over the
repetitions. Back ends:

* ``fake``: one botocore-shaped fake ``lambda`` client (:mod:`benchmarks.fake_client`)
  passed as ``boto3_client=`` to each SDK's ``durable_execution``; the harness
  invokes the decorated handler with envelope dicts and re-invokes after PENDING,
  as Lambda does. ``--latency-ms`` adds a simulated round trip to every API call.
* ``runner``: each SDK's own in-process test runner (``DurableTestRunner`` vs
  ``DurableFunctionTestRunner``): what a developer's test loop costs.

Plus: ``import`` cost in fresh processes, a decoder micro-benchmark
(:mod:`benchmarks.decode`), a batching check, and the per-step plot.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fake_client import RunRecord, run_execution
from benchmarks.sdks import SDK, SHAPES, Workload, load_sdks, make_workloads, official_available

OURS = "durable_exec"
OFFICIAL = "official"
HERE = Path(__file__).resolve().parent

# Regression guard: a ratio (ours/official, lower is better) fails when it grew past
# both baseline * RATIO_TOLERANCE and baseline + RATIO_SLACK. Generous on purpose:
# CI machines are noisy and share cores; only a large regression should fail.
RATIO_TOLERANCE = 3.0
RATIO_SLACK = 0.05


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Workload sizes of one run."""

    seq: tuple[int, ...]
    map: tuple[int, ...]
    latency_seq: tuple[int, ...]
    latency_map: tuple[int, ...]
    runner_seq: tuple[int, ...]
    runner_map: tuple[int, ...]
    sweep_latencies: tuple[float, ...]  # more latencies for the latency_map sizes (plot)
    shape_latencies: tuple[float, ...]  # parallel / map of child contexts / nested map
    reps: int
    big_reps: int
    import_samples: int
    decode_ops: int


FULL = Sizes(
    seq=(20, 100, 1000, 10000),
    map=(20, 100, 1000, 10000),
    latency_seq=(10, 100),
    latency_map=(1000,),
    runner_seq=(20, 100, 1000, 10000),
    runner_map=(20, 100, 1000),
    sweep_latencies=(5.0, 30.0),
    shape_latencies=(0.0, 10.0),
    reps=5,
    big_reps=3,
    import_samples=7,
    decode_ops=2000,
)
SMOKE = Sizes(
    seq=(20, 100),
    map=(20, 100),
    latency_seq=(10,),
    latency_map=(),
    runner_seq=(20, 100),
    runner_map=(20,),
    sweep_latencies=(),
    shape_latencies=(0.0,),
    reps=3,
    big_reps=3,
    import_samples=3,
    decode_ops=200,
)
BIG = 10_000  # workloads this large use big_reps


# -- measuring ----------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _measure_fake(sdk: SDK, workload: Workload, *, trace_memory: bool = False) -> RunRecord:
    body = workload.build(sdk)

    def make_handler(client: Any) -> Any:
        return sdk.durable_execution(boto3_client=client)(body)

    record = run_execution(make_handler, latency_ms=workload.latency_ms, trace_memory=trace_memory)
    if record.status != "SUCCEEDED" or record.result != workload.expected:
        raise RuntimeError(
            f"{sdk.name} {workload.label}: wrong outcome {record.status} {record.result!r} "
            f"(expected {workload.expected!r})"
        )
    return record


def _measure_runner(sdk: SDK, workload: Workload) -> tuple[float, float]:
    handler = sdk.durable_execution(workload.build(sdk))
    gc.collect()
    cpu = time.process_time()
    wall = time.perf_counter()
    status, result = sdk.run_in_runner(handler, None)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    if status != "SUCCEEDED" or result != workload.expected:
        raise RuntimeError(f"{sdk.name} runner {workload.label}: {status} {result!r}")
    return wall, cpu


def _reps(sizes: Sizes, workload: Workload) -> int:
    return sizes.big_reps if workload.n >= BIG else sizes.reps


def _order(sdks: list[SDK], rep: int) -> list[SDK]:
    return sdks if rep % 2 == 0 else list(reversed(sdks))


def bench_fake(
    sdks: list[SDK], workloads: dict[str, Workload], sizes: Sizes, *, memory: bool, log: Any
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run every workload on the shared fake client; return raw samples per label and SDK."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, workload in workloads.items():
        started = time.perf_counter()
        samples: dict[str, list[RunRecord]] = {s.name: [] for s in sdks}
        for rep in range(_reps(sizes, workload)):
            for sdk in _order(sdks, rep):
                samples[sdk.name].append(_measure_fake(sdk, workload))
        peaks: dict[str, float | None] = {s.name: None for s in sdks}
        if memory:
            for sdk in sdks:
                peak = _measure_fake(sdk, workload, trace_memory=True).peak_bytes
                peaks[sdk.name] = None if peak is None else peak / 2**20
        out[label] = {}
        for sdk in sdks:
            records = samples[sdk.name]
            last = records[-1]
            out[label][sdk.name] = {
                "n": workload.n,
                "per": workload.per,
                "latency_ms": workload.latency_ms,
                "wall": [r.wall for r in records],
                "cpu": [r.cpu for r in records],
                "sdk_cpu": [r.sdk_cpu for r in records],
                "replay_wall": [r.invocations[-1].wall for r in records],
                "replay_sdk_cpu": [
                    r.invocations[-1].cpu - r.invocations[-1].fake_cpu for r in records
                ],
                "invocations": len(last.invocations),
                "calls": last.calls,
                "updates": last.updates,
                "state_calls": last.state_calls,
                "max_batch": max(last.batch_sizes, default=0),
                "calls_bound": workload.calls_bound,
                "peak_mb": peaks[sdk.name],
            }
        log(f"  fake   {label:<22} {time.perf_counter() - started:6.1f}s")
    return out


def bench_runner(
    sdks: list[SDK], workloads: dict[str, Workload], sizes: Sizes, log: Any
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run workloads in each SDK's own in-process test runner."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, workload in workloads.items():
        started = time.perf_counter()
        walls: dict[str, list[float]] = {s.name: [] for s in sdks}
        cpus: dict[str, list[float]] = {s.name: [] for s in sdks}
        for rep in range(_reps(sizes, workload)):
            for sdk in _order(sdks, rep):
                wall, cpu = _measure_runner(sdk, workload)
                walls[sdk.name].append(wall)
                cpus[sdk.name].append(cpu)
        out[label] = {
            s.name: {
                "n": workload.n,
                "per": workload.per,
                "wall": walls[s.name],
                "cpu": cpus[s.name],
            }
            for s in sdks
        }
        log(f"  runner {label:<22} {time.perf_counter() - started:6.1f}s")
    return out


def bench_imports(samples: int, *, official: bool) -> dict[str, dict[str, Any]]:
    from benchmarks.imports import measure_import

    out = {OURS: measure_import("durable_exec", samples)}
    if official:
        out[OFFICIAL] = measure_import("aws_durable_execution_sdk_python", samples)
    return out


def bench_batching() -> dict[str, Any]:
    """durable_exec's batcher with nothing blocking: 1,000 queued updates -> full calls."""
    from durable_exec._checkpointer import BatcherConfig, Checkpointer
    from durable_exec._service import CheckpointResult
    from durable_exec._state import ExecutionState
    from durable_exec._wire import OperationAction, OperationType, OperationUpdate

    class CountingService:
        def __init__(self) -> None:
            self.batches: list[int] = []

        def checkpoint(self, arn: str, token: str, updates: Any, client_token: str) -> Any:
            self.batches.append(len(updates))
            return CheckpointResult(token=f"{token}+", operations=[])

        def get_state(self, arn: str, token: str, marker: str | None) -> Any:
            raise AssertionError("not paged")

    service = CountingService()
    checkpointer = Checkpointer(
        service, ExecutionState("arn"), "t0", config=BatcherConfig(max_delay=3600.0)
    )
    steps = 500
    for i in range(steps):
        for action in (OperationAction.START, OperationAction.SUCCEED):
            checkpointer.enqueue(
                OperationUpdate(id=f"op{i}", type=OperationType.STEP, action=action, payload="1")
            )
    checkpointer.flush()
    checkpointer.close()
    updates = 2 * steps
    return {
        "updates": updates,
        "batches": service.batches,
        "minimum_calls": -(-updates // BatcherConfig().max_updates),
    }


def machine_info() -> dict[str, Any]:
    import importlib.metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from durable_exec import __version__

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "durable_exec": __version__,
        "aws-durable-execution-sdk-python": version("aws-durable-execution-sdk-python"),
        "aws-durable-execution-sdk-python-testing": version(
            "aws-durable-execution-sdk-python-testing"
        ),
        "boto3": version("boto3"),
        "botocore": version("botocore"),
        "dataclasses-json": version("dataclasses-json"),
        "loadavg_start": os.getloadavg(),
    }


# -- figures ------------------------------------------------------------------------


@dataclasses.dataclass
class Figure:
    """One row of the results table."""

    key: str  # stable id for the baseline: backend/label/figure
    workload: str
    name: str
    unit: str
    ours: float | None
    official: float | None

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.official is None or self.official == 0:
            return None
        return self.ours / self.official


def _get(data: dict[str, Any], label: str, sdk: str) -> dict[str, Any] | None:
    return data.get(label, {}).get(sdk)


def figures(results: dict[str, Any]) -> list[Figure]:
    """Turn raw samples into table rows (medians; per-unit figures in microseconds)."""
    rows: list[Figure] = []

    def pair(
        data: dict[str, Any], label: str, fn: Callable[[dict[str, Any]], float | None]
    ) -> tuple[float | None, float | None]:
        a, b = _get(data, label, OURS), _get(data, label, OFFICIAL)
        return (fn(a) if a else None, fn(b) if b else None)

    fake = results.get("fake", {})
    for label in fake:
        any_sdk = next(iter(fake[label].values()))
        n, per = any_sdk["n"], any_sdk["per"]
        base = f"fake/{label}"
        is_replay = label.startswith("replay")
        rows.append(
            Figure(
                f"{base}/wall",
                label,
                "wall (all invocations)",
                "ms",
                *pair(fake, label, lambda d: _median(d["wall"]) * 1e3),
            )
        )
        if n:
            rows.append(
                Figure(
                    f"{base}/wall_per",
                    label,
                    f"wall per {per}",
                    "us",
                    *pair(fake, label, lambda d, n=n: _median(d["wall"]) / n * 1e6),
                )
            )
        rows.append(
            Figure(
                f"{base}/cpu",
                label,
                "CPU, process",
                "ms",
                *pair(fake, label, lambda d: _median(d["cpu"]) * 1e3),
            )
        )
        if n:
            rows.append(
                Figure(
                    f"{base}/sdk_cpu_per",
                    label,
                    f"SDK CPU per {per} (fake excluded)",
                    "us",
                    *pair(fake, label, lambda d, n=n: _median(d["sdk_cpu"]) / n * 1e6),
                )
            )
        if is_replay:
            rows.append(
                Figure(
                    f"{base}/replay_wall_per",
                    label,
                    "replay invocation wall per op",
                    "us",
                    *pair(fake, label, lambda d, n=n: _median(d["replay_wall"]) / n * 1e6),
                )
            )
            rows.append(
                Figure(
                    f"{base}/replay_sdk_cpu_per",
                    label,
                    "replay invocation SDK CPU per op",
                    "us",
                    *pair(fake, label, lambda d, n=n: _median(d["replay_sdk_cpu"]) / n * 1e6),
                )
            )
        rows.append(
            Figure(
                f"{base}/calls",
                label,
                "checkpoint calls",
                "",
                *pair(fake, label, lambda d: float(d["calls"])),
            )
        )
        rows.append(
            Figure(
                f"{base}/updates_per_call",
                label,
                "updates per call",
                "",
                *pair(fake, label, lambda d: d["updates"] / d["calls"] if d["calls"] else None),
            )
        )
        rows.append(
            Figure(
                f"{base}/peak_mb",
                label,
                "peak Python heap (tracemalloc)",
                "MB",
                *pair(fake, label, lambda d: d["peak_mb"]),
            )
        )
    runner = results.get("runner", {})
    for label in runner:
        any_sdk = next(iter(runner[label].values()))
        n, per = any_sdk["n"], any_sdk["per"]
        base = f"runner/{label}"
        rows.append(
            Figure(
                f"{base}/wall",
                label,
                "runner wall",
                "ms",
                *pair(runner, label, lambda d: _median(d["wall"]) * 1e3),
            )
        )
        if n:
            rows.append(
                Figure(
                    f"{base}/wall_per",
                    label,
                    f"runner wall per {per}",
                    "us",
                    *pair(runner, label, lambda d, n=n: _median(d["wall"]) / n * 1e6),
                )
            )
        rows.append(
            Figure(
                f"{base}/cpu",
                label,
                "runner CPU",
                "ms",
                *pair(runner, label, lambda d: _median(d["cpu"]) * 1e3),
            )
        )
    imports = results.get("imports", {})
    if imports:
        ours, official = imports.get(OURS), imports.get(OFFICIAL)
        rows.append(
            Figure(
                "import/wall",
                "import",
                "import in a fresh process (median)",
                "ms",
                ours["seconds"] * 1e3 if ours else None,
                official["seconds"] * 1e3 if official else None,
            )
        )
        rows.append(
            Figure(
                "import/rss_over_bare",
                "import",
                "RSS added by the import",
                "MB",
                ours["rss_over_bare_mb"] if ours else None,
                official["rss_over_bare_mb"] if official else None,
            )
        )
        rows.append(
            Figure(
                "import/modules",
                "import",
                "modules loaded",
                "",
                float(ours["modules"]) if ours else None,
                float(official["modules"]) if official else None,
            )
        )
    return rows


# -- targets ------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    name: str
    measured: str
    ok: bool | None  # None: could not be evaluated in this run


def _fake_med(results: dict[str, Any], label: str, sdk: str, field: str) -> float | None:
    d = _get(results.get("fake", {}), label, sdk)
    return _median(d[field]) if d else None


def _runner_med(results: dict[str, Any], label: str, sdk: str) -> float | None:
    d = _get(results.get("runner", {}), label, sdk)
    return _median(d["wall"]) if d else None


def _sizes_of(results: dict[str, Any], backend: str, prefix: str) -> list[int]:
    out = []
    for label, per_sdk in results.get(backend, {}).items():
        d = next(iter(per_sdk.values()))
        if label.startswith(prefix + " ") and not d.get("latency_ms"):
            out.append(d["n"])
    return sorted(out)


def _label(kind: str, n: int) -> str:
    return f"{kind} {n:,}"


def _ref_pair(sizes: list[int]) -> tuple[int, int] | None:
    """(mid, big): 1,000 and 10,000 in a full run, the two largest sizes otherwise."""
    if 1000 in sizes and 10000 in sizes:
        return 1000, 10000
    return (sizes[-2], sizes[-1]) if len(sizes) >= 2 else None


def targets(results: dict[str, Any]) -> list[Target]:
    """Evaluate the issue's targets on this run's measurements."""
    out: list[Target] = []
    have_official = any(OFFICIAL in v for v in results.get("fake", {}).values())

    def ratio_target(
        name: str,
        ours: float | None,
        off: float | None,
        limit: float,
        fmt: Callable[[float, float, float], str],
    ) -> None:
        if ours is None or off is None:
            out.append(Target(name, "not measured (official SDK absent?)", None))
            return
        r = ours / off
        out.append(Target(name, fmt(ours, off, r), r <= limit))

    # 1. empty handler
    e_ours = _fake_med(results, "empty", OURS, "wall")
    e_off = _fake_med(results, "empty", OFFICIAL, "wall")
    if e_ours is not None:
        out.append(
            Target(
                "empty handler invocation <= 5 ms median", f"{e_ours * 1e3:.2f} ms", e_ours <= 0.005
            )
        )
    ratio_target(
        "empty handler >= 20x faster than the official SDK",
        e_ours,
        e_off,
        1 / 20,
        lambda a, b, r: f"{b / a:.0f}x faster ({a * 1e3:.2f} ms vs {b * 1e3:.1f} ms)",
    )

    seq_sizes = _sizes_of(results, "fake", "seq")
    pair = _ref_pair(seq_sizes)
    # 2. SDK CPU per sequential step
    for n in [p for p in (pair or ()) if p]:
        label = _label("seq", n)
        a = _fake_med(results, label, OURS, "sdk_cpu")
        b = _fake_med(results, label, OFFICIAL, "sdk_cpu")
        ratio_target(
            f"SDK CPU per sequential step <= 1/5 of official ({label})",
            None if a is None else a / n,
            None if b is None else b / n,
            0.2,
            lambda a, b, r: f"{a * 1e6:.1f} us vs {b * 1e6:.1f} us = 1/{1 / r:.1f}",
        )
    # 3. latency: one round trip per step
    lat = [
        (label, per_sdk)
        for label, per_sdk in results.get("fake", {}).items()
        if label.startswith("seq ") and next(iter(per_sdk.values())).get("latency_ms")
    ]
    if lat:
        label, per_sdk = max(lat, key=lambda item: next(iter(item[1].values()))["n"])
        d = per_sdk[OURS]
        per_step = _median(d["wall"]) / d["n"]
        latency = d["latency_ms"] / 1e3
        extra = ""
        if OFFICIAL in per_sdk:
            o = per_sdk[OFFICIAL]
            extra = f"; official {_median(o['wall']) / o['n'] * 1e3:.2f} ms/step"
        out.append(
            Target(
                f"with {d['latency_ms']:g} ms latency per call, a step costs one round trip "
                f"(<= 1.07 x {d['latency_ms']:g} ms) ({label})",
                f"{per_step * 1e3:.2f} ms/step = {per_step / latency:.3f} round trips{extra}",
                per_step <= 1.07 * latency,
            )
        )
    # 4. replay
    replay_sizes = _sizes_of(results, "fake", "replay")
    if replay_sizes:
        n = replay_sizes[-1]
        label = _label("replay", n)
        a = _fake_med(results, label, OURS, "replay_wall")
        b = _fake_med(results, label, OFFICIAL, "replay_wall")
        assert a is not None
        extra = f" (official {b / n * 1e6:.1f} us)" if b is not None else ""
        out.append(
            Target(
                f"replay <= 20 us per completed operation ({label})",
                f"{a / n * 1e6:.2f} us/op{extra}",
                a / n <= 20e-6,
            )
        )
    # 5. map
    map_sizes = _sizes_of(results, "fake", "map")
    map_pair = _ref_pair(map_sizes)
    if map_pair:
        mid, big = map_pair
        a = _fake_med(results, _label("map", mid), OURS, "wall")
        b = _fake_med(results, _label("map", mid), OFFICIAL, "wall")
        ratio_target(
            f"map {mid:,} items, max_concurrency 10: >= 3x faster than official",
            a,
            b,
            1 / 3,
            lambda a, b, r: f"{1 / r:.1f}x faster ({a:.3f} s vs {b:.3f} s)",
        )
        a_big = _fake_med(results, _label("map", big), OURS, "wall")
        if a is not None and a_big is not None:
            growth = (a_big / big) / (a / mid)
            out.append(
                Target(
                    f"map per-item cost at {big:,} within 1.2x of {mid:,}",
                    f"{a_big / big * 1e6:.1f} vs {a / mid * 1e6:.1f} us/item = {growth:.2f}x",
                    growth <= 1.2,
                )
            )
    # 5b. under latency: map 1,000 at 10 and 30 ms, and the other shapes
    fake = results.get("fake", {})
    for label, per_sdk in fake.items():
        d, o = per_sdk.get(OURS), per_sdk.get(OFFICIAL)
        if d is None or o is None or not d.get("latency_ms"):
            continue
        kind, ms = label.split()[0], d["latency_ms"]
        wall, wall_o = _median(d["wall"]), _median(o["wall"])
        bound = d.get("calls_bound")
        floor = f"; bound {bound} calls, {bound * ms / 1e3:.2f} s" if bound else ""
        if kind == "map" and d["n"] >= 1000 and ms in (10.0, 30.0):
            out.append(
                Target(
                    f"{label}: wall <= 0.5x official",
                    f"{wall:.2f} s vs {wall_o:.2f} s = {wall / wall_o:.2f}x{floor}",
                    wall <= 0.5 * wall_o,
                )
            )
            out.append(
                Target(
                    f"{label}: checkpoint calls <= 0.6x official, updates unchanged",
                    f"{d['calls']} vs {o['calls']} calls = {d['calls'] / o['calls']:.2f}x; "
                    f"updates {d['updates']:,} vs {o['updates']:,}",
                    d["calls"] <= 0.6 * o["calls"] and d["updates"] == o["updates"],
                )
            )
        elif kind in SHAPES:
            out.append(
                Target(
                    f"{label}: calls and wall <= official",
                    f"{d['calls']} vs {o['calls']} calls, {wall * 1e3:.0f} vs {wall_o * 1e3:.0f} ms"
                    f"{floor}",
                    d["calls"] <= o["calls"] and wall <= wall_o,
                )
            )
    # 6. no superlinear growth, SDK (fake) and test runner
    if pair:
        mid, big = pair
        a = _fake_med(results, _label("seq", mid), OURS, "wall")
        a_big = _fake_med(results, _label("seq", big), OURS, "wall")
        if a is not None and a_big is not None:
            growth = (a_big / big) / (a / mid)
            out.append(
                Target(
                    f"seq per-step cost at {big:,} within 1.2x of {mid:,} (SDK, fake)",
                    f"{a_big / big * 1e6:.1f} vs {a / mid * 1e6:.1f} us/step = {growth:.2f}x",
                    growth <= 1.2,
                )
            )
    rpair = _ref_pair(_sizes_of(results, "runner", "seq"))
    if rpair:
        mid, big = rpair
        a = _runner_med(results, _label("seq", mid), OURS)
        a_big = _runner_med(results, _label("seq", big), OURS)
        if a is not None and a_big is not None:
            growth = (a_big / big) / (a / mid)
            out.append(
                Target(
                    f"seq per-step cost at {big:,} within 1.2x of {mid:,} (test runner)",
                    f"{a_big / big * 1e6:.1f} vs {a / mid * 1e6:.1f} us/step = {growth:.2f}x",
                    growth <= 1.2,
                )
            )
    # 7. test runner 1,000 steps
    runner_sizes = _sizes_of(results, "runner", "seq")
    if runner_sizes:
        n = 1000 if 1000 in runner_sizes else runner_sizes[-1]
        a = _runner_med(results, _label("seq", n), OURS)
        b = _runner_med(results, _label("seq", n), OFFICIAL)
        assert a is not None
        limit = 0.3 * n / 1000
        extra = f" (official {b:.2f} s)" if b is not None else ""
        out.append(
            Target(
                f"in-process test runner: {n:,} sequential steps <= {limit:.3g} s",
                f"{a:.3f} s{extra}",
                a <= limit,
            )
        )
    # 8. import
    imp = results.get("imports", {})
    if OURS in imp:
        d = imp[OURS]
        extra = f" (official {imp[OFFICIAL]['seconds'] * 1e3:.0f} ms)" if OFFICIAL in imp else ""
        out.append(
            Target(
                "import durable_exec <= 100 ms in a fresh process",
                f"{d['seconds'] * 1e3:.1f} ms{extra}",
                d["seconds"] <= 0.1,
            )
        )
        out.append(
            Target(
                "botocore not loaded by import durable_exec",
                f"botocore in sys.modules: {d['botocore']}",
                not d["botocore"],
            )
        )
    # 9. API calls
    if seq_sizes:
        n = seq_sizes[-1]
        d = _get(results["fake"], _label("seq", n), OURS)
        assert d is not None
        off = _get(results["fake"], _label("seq", n), OFFICIAL)
        extra = f" (official {off['calls'] / n:.2f})" if off else ""
        out.append(
            Target(
                f"one API call per sequential step, START+SUCCEED together (seq {n:,})",
                f"{d['calls'] / n:.3f} calls/step, {d['updates'] / d['calls']:.2f} "
                f"updates/call{extra}",
                d["calls"] == n and d["updates"] == 2 * n,
            )
        )
    batching = results.get("batching")
    if batching:
        full = batching["minimum_calls"] == len(batching["batches"])
        out.append(
            Target(
                "calls as full as allowed when nothing blocks (1,000 queued updates)",
                f"{len(batching['batches'])} calls {batching['batches']} "
                f"(minimum {batching['minimum_calls']})",
                full,
            )
        )
    if not have_official:
        out.append(Target("official SDK comparison", "official SDK not installed", None))
    return out


# -- output -------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "":
        return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:.2f}"
    if value >= 1000:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


def _fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:.1f}"


def render_table(rows: list[Figure]) -> str:
    lines = [
        "| workload | figure | durable_exec | official | ours/official |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r.workload} | {r.name} | {_fmt(r.ours, r.unit)} | {_fmt(r.official, r.unit)} | "
        f"{_fmt_ratio(r.ratio)} |"
        for r in rows
    ]
    return "\n".join(lines)


def render_targets(items: list[Target]) -> str:
    lines = ["| result | target | measured in this run |", "|---|---|---|"]
    for t in items:
        mark = "PASS" if t.ok else ("MISS" if t.ok is False else "n/a")
        lines.append(f"| {mark} | {t.name} | {t.measured} |")
    return "\n".join(lines)


def render_headline(results: dict[str, Any]) -> str:
    """What decides cost: SDK CPU per step, and calls and wall time under latency.

    Medians with the range of the repetitions (min-max), so the noise shows.
    """
    fake = results.get("fake", {})
    lines = [
        "| figure | durable_exec | official | ours/official |",
        "|---|---:|---:|---:|",
    ]

    def spread(values: list[float], scale: float, unit: str) -> str:
        lo, mid, hi = min(values) * scale, _median(values) * scale, max(values) * scale
        digits = 0 if mid >= 100 else (1 if mid >= 10 else 2)
        return f"{mid:,.{digits}f} {unit} ({lo:,.{digits}f}-{hi:,.{digits}f})"

    for label, per_sdk in fake.items():
        d, o = per_sdk.get(OURS), per_sdk.get(OFFICIAL)
        if d is None:
            continue
        kind, n, ms = label.split()[0], d["n"], d.get("latency_ms") or 0.0
        rows: list[tuple[str, str, str, float | None]] = []
        if kind == "seq" and not ms and n >= 1000:
            cpu = [v / n for v in d["sdk_cpu"]]
            cpu_o = [v / n for v in o["sdk_cpu"]] if o else None
            rows.append(
                (
                    f"SDK CPU per sequential step ({label})",
                    spread(cpu, 1e6, "us"),
                    spread(cpu_o, 1e6, "us") if cpu_o else "—",
                    _median(cpu) / _median(cpu_o) if cpu_o else None,
                )
            )
        elif ms and (kind in SHAPES or kind in ("map", "seq")):
            scale, unit = (1.0, "s") if _median(d["wall"]) >= 1 else (1e3, "ms")
            if kind == "seq":
                scale, unit = 1e3 / n, "ms/step"
            bound = d.get("calls_bound")
            calls = f"{d['calls']} calls" + (f" (bound {bound})" if bound else "")
            calls_o = f"{o['calls']} calls" if o else "—"
            rows.append(
                (
                    f"{label}: checkpoint calls",
                    calls,
                    calls_o,
                    d["calls"] / o["calls"] if o else None,
                )
            )
            rows.append(
                (
                    f"{label}: wall",
                    spread(d["wall"], scale, unit),
                    spread(o["wall"], scale, unit) if o else "—",
                    _median(d["wall"]) / _median(o["wall"]) if o else None,
                )
            )
        for name, ours, official, ratio in rows:
            lines.append(f"| {name} | {ours} | {official} | {_fmt_ratio(ratio)} |")
    return "\n".join(lines)


def render_bound(results: dict[str, Any]) -> str:
    """Calls and wall time of every workload run under latency, against the bound."""
    lines = [
        (
            "| workload | bound: calls | bound: wall | durable_exec calls | wall | x bound "
            "| official calls | wall | x bound |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, per_sdk in results.get("fake", {}).items():
        d = per_sdk.get(OURS)
        if d is None or not d.get("calls_bound"):
            continue
        kind = label.split()[0]
        if not d.get("latency_ms") and kind not in SHAPES and not label.startswith("map 1,000"):
            continue
        bound, ms = d["calls_bound"], d.get("latency_ms") or 0.0
        floor = bound * ms / 1e3
        cells = [label, str(bound), f"{floor:.2f} s" if ms else "—"]
        for sdk in (OURS, OFFICIAL):
            v = per_sdk.get(sdk)
            if v is None:
                cells += ["—", "—", "—"]
                continue
            wall = _median(v["wall"])
            cells += [
                f"{v['calls']} ({v['calls'] / bound:.2f}x)",
                f"{wall:.3f} s" if wall >= 1 else f"{wall * 1e3:.1f} ms",
                f"{wall / floor:.2f}" if floor else "—",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_decode(decode: dict[str, float]) -> str:
    if not decode:
        return ""
    ours = decode.get("durable_exec Operation.from_wire")
    lines = ["| decoder | per operation | vs from_wire |", "|---|---:|---:|"]
    for label, micros in decode.items():
        rel = f"{micros / ours:.1f}x" if ours else "—"
        lines.append(f"| {label} | {micros:.2f} us | {rel} |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> bool:
    """Per-step cost of sequential steps against N, both SDKs, fake client and test runner."""
    try:
        import matplotlib as mpl
    except ImportError:
        return False
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {OURS: ("tab:blue", "o"), OFFICIAL: ("tab:orange", "s")}
    for backend, linestyle, what in (
        ("fake", "-", "shared fake client"),
        ("runner", "--", "own test runner"),
    ):
        data = results.get(backend, {})
        sizes = _sizes_of(results, backend, "seq")
        for sdk, (color, marker) in styles.items():
            points = [
                (n, _median(d["wall"]) / n * 1e6)
                for n in sizes
                if (d := _get(data, _label("seq", n), sdk)) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                left.plot(
                    xs, ys, linestyle=linestyle, color=color, marker=marker, label=f"{sdk}, {what}"
                )
    data = results.get("fake", {})
    sizes = _sizes_of(results, "fake", "seq")
    for sdk, (color, marker) in styles.items():
        points = [
            (n, _median(d["sdk_cpu"]) / n * 1e6)
            for n in sizes
            if (d := _get(data, _label("seq", n), sdk)) is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            right.plot(xs, ys, color=color, marker=marker, label=f"{sdk} SDK CPU, fake client")
    map_sizes = _sizes_of(results, "fake", "map")
    for sdk, (color, marker) in styles.items():
        points = [
            (n, _median(d["wall"]) / n * 1e6)
            for n in map_sizes
            if (d := _get(data, _label("map", n), sdk)) is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            right.plot(
                xs,
                ys,
                color=color,
                marker=marker,
                linestyle=":",
                label=f"{sdk} map wall per item (concurrency 10)",
            )
    left.set_title("Sequential steps: wall time per step")
    right.set_title("SDK CPU per step, and map wall per item (fake client)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N (steps or items)")
        ax.set_ylabel("microseconds")
        ax.grid(visible=True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("durable_exec vs aws-durable-execution-sdk-python (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_latency(results: dict[str, Any], path: Path) -> bool:
    """Calls and wall time of map 1,000 (concurrency 10) against latency, both SDKs, the bound."""
    fake = results.get("fake", {})
    series: dict[str, list[tuple[float, int, float]]] = {OURS: [], OFFICIAL: []}
    bound: int | None = None
    for per_sdk in fake.values():
        any_sdk = next(iter(per_sdk.values()))
        if not (any_sdk["per"] == "item" and any_sdk["n"] == 1000):
            continue
        for sdk, d in per_sdk.items():
            if sdk in series and d.get("calls_bound"):
                series[sdk].append((d.get("latency_ms") or 0.0, d["calls"], _median(d["wall"])))
                bound = d["calls_bound"]
    if bound is None or len(series[OURS]) < 2:
        return False
    try:
        import matplotlib as mpl
    except ImportError:
        return False
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {OURS: ("tab:blue", "o"), OFFICIAL: ("tab:orange", "s")}
    latencies: list[float] = []
    for sdk, points in series.items():
        if not points:
            continue
        points.sort()
        xs = [p[0] for p in points]
        latencies = sorted({*latencies, *xs})
        color, marker = styles[sdk]
        left.plot(xs, [p[1] for p in points], color=color, marker=marker, label=sdk)
        right.plot(xs, [p[2] for p in points], color=color, marker=marker, label=sdk)
    left.plot(
        latencies,
        [bound] * len(latencies),
        color="black",
        linestyle="--",
        label=f"bound: {bound} calls",
    )
    right.plot(
        latencies,
        [bound * ms / 1e3 for ms in latencies],
        color="black",
        linestyle="--",
        label=f"bound: {bound} calls x latency",
    )
    left.set_title("Checkpoint calls")
    right.set_title("Wall time (s)")
    left.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.set_xlabel("simulated latency per API call (ms)")
        ax.set_xticks(latencies)
        ax.grid(visible=True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        "map of 1,000 items, max_concurrency 10: durable_exec vs aws-durable-execution-sdk-python"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# -- baseline -----------------------------------------------------------------------

_GUARDED = ("/wall", "/wall_per", "/sdk_cpu_per", "/replay_wall_per")


def baseline_ratios(rows: list[Figure]) -> dict[str, float]:
    return {
        r.key: round(r.ratio, 5)
        for r in rows
        if r.ratio is not None and r.key.endswith(_GUARDED) and not r.key.startswith("import/")
    }


def check_ratios(rows: list[Figure], baseline_path: Path) -> tuple[bool, list[str]]:
    """Compare this run's ratios with the baseline's; return (ok, report lines)."""
    baseline = json.loads(baseline_path.read_text())["ratios"]
    current = baseline_ratios(rows)
    lines = []
    ok = True
    compared = 0
    for key, ratio in sorted(current.items()):
        if key not in baseline:
            continue
        compared += 1
        base = baseline[key]
        limit = max(base * RATIO_TOLERANCE, base + RATIO_SLACK)
        if ratio > limit:
            ok = False
            lines.append(
                f"REGRESSION {key}: ratio {ratio:.4f} > limit {limit:.4f} (baseline {base:.4f})"
            )
        else:
            lines.append(
                f"ok         {key}: ratio {ratio:.4f} (baseline {base:.4f}, limit {limit:.4f})"
            )
    if compared == 0:
        lines.append("no ratio of this run is in the baseline: nothing compared")
        ok = False
    return ok, lines


# -- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="durable_exec vs the official SDK, same run, same back end.",
    )
    p.add_argument(
        "--smoke", action="store_true", help="tiny sizes (CI): must run, not meet timings"
    )
    p.add_argument("--reps", type=int, help="repetitions per workload (default 5; 3 in smoke)")
    p.add_argument("--big-reps", type=int, help="repetitions for 10,000-sized workloads (3)")
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="simulated latency per API call for the fake-client workloads (default 0)",
    )
    p.add_argument("--no-official", action="store_true", help="measure durable_exec only")
    p.add_argument(
        "--pin-cpu",
        type=int,
        default=None,
        metavar="CPU",
        help="run every thread on this one CPU (Linux): removes cross-CPU thread wake-ups, "
        "as on a Lambda function with one vCPU",
    )
    p.add_argument("--only", default="", help="comma-separated substrings of workload labels")
    p.add_argument("--skip-runner", action="store_true", help="skip the test-runner back end")
    p.add_argument("--skip-memory", action="store_true", help="skip the tracemalloc runs")
    p.add_argument("--skip-imports", action="store_true", help="skip fresh-process import timing")
    p.add_argument("--skip-decode", action="store_true", help="skip the decoder micro-benchmark")
    p.add_argument(
        "--runner-max-n",
        type=int,
        default=None,
        help="largest test-runner workload (the official runner needs ~1 min at 10,000)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG path (default benchmarks/per_step.png in a full run, none in smoke)",
    )
    p.add_argument("--json", type=Path, default=None, help="write raw results to this file")
    p.add_argument(
        "--write-baseline",
        type=Path,
        default=None,
        help="write this run's ratios as the regression baseline",
    )
    p.add_argument(
        "--check-ratios",
        type=Path,
        default=None,
        help="compare ratios with a baseline; exit 1 on a large regression",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    if args.reps:
        sizes = dataclasses.replace(sizes, reps=args.reps)
    if args.big_reps:
        sizes = dataclasses.replace(sizes, big_reps=args.big_reps)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.pin_cpu is not None:
        os.sched_setaffinity(0, {args.pin_cpu})  # threads started later inherit it
    missing = official_available()
    if missing and not args.no_official:
        print(f"NOTE: the official SDK cannot be measured: {missing}")
        print("      Measuring durable_exec alone; ratios and the regression guard need it.\n")
    sdks = load_sdks(include_official=not args.no_official)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]

    def keep(label: str) -> bool:
        return not wanted or any(w in label for w in wanted)

    workloads = {
        k: w
        for k, w in make_workloads(
            sizes.seq,
            sizes.map,
            latency_ms=args.latency_ms,
            latency_seq_sizes=sizes.latency_seq,
            latency_map_sizes=sizes.latency_map,
            sweep_latencies_ms=sizes.sweep_latencies,
            shape_latencies_ms=sizes.shape_latencies,
        ).items()
        if keep(k)
    }
    runner_max = args.runner_max_n if args.runner_max_n is not None else 10**9
    runner_workloads = {
        k: w
        for k, w in make_workloads(
            tuple(n for n in sizes.runner_seq if n <= runner_max),
            tuple(n for n in sizes.runner_map if n <= runner_max),
        ).items()
        if not k.startswith("replay") and keep(k)
    }
    started = time.perf_counter()
    results: dict[str, Any] = {"meta": machine_info(), "mode": "smoke" if args.smoke else "full"}
    results["meta"]["command"] = " ".join(["python -m benchmarks", *(argv or sys.argv[1:])])
    log(f"durable_exec benchmarks ({results['mode']}): SDKs {[s.name for s in sdks]}")
    # Warm up both SDKs once (lazy imports, first-call caches) outside the measurements.
    warm = make_workloads((2,), ())["seq 2"]
    for sdk in sdks:
        _measure_fake(sdk, warm)
        _measure_runner(sdk, warm)
    results["fake"] = bench_fake(sdks, workloads, sizes, memory=not args.skip_memory, log=log)
    if not args.skip_runner:
        results["runner"] = bench_runner(sdks, runner_workloads, sizes, log)
    if not args.skip_imports:
        log("  imports")
        results["imports"] = bench_imports(sizes.import_samples, official=len(sdks) > 1)
    results["batching"] = bench_batching()
    if not args.skip_decode:
        from benchmarks.decode import measure_decoders

        log("  decoders")
        results["decode"] = measure_decoders(sizes.decode_ops, reps=3 if args.smoke else 7)
    results["meta"]["loadavg_end"] = os.getloadavg()
    results["meta"]["seconds"] = time.perf_counter() - started

    rows = figures(results)
    meta = results["meta"]
    print(f"# durable_exec benchmarks ({results['mode']} run, {meta['seconds']:.0f} s)\n")
    print(f"Command: `{meta['command']}`  ")
    print(
        f"Machine: {meta['cores']} cores ({meta['cpu']}), {meta['implementation']} "
        f"{meta['python']}, {meta['platform']}  "
    )
    print(
        f"Versions: durable_exec {meta['durable_exec']}, aws-durable-execution-sdk-python "
        f"{meta['aws-durable-execution-sdk-python']}, testing "
        f"{meta['aws-durable-execution-sdk-python-testing']}, botocore {meta['botocore']}  "
    )
    if args.pin_cpu is not None:
        print(f"Pinned to CPU {args.pin_cpu} (every thread of the benchmark process)  ")
    print(
        f"Load average at start/end: {meta['loadavg_start'][0]:.2f} / "
        f"{meta['loadavg_end'][0]:.2f}; medians of {sizes.reps} repetitions "
        f"({sizes.big_reps} for 10,000-sized workloads)\n"
    )
    print("## What decides cost (medians, range of the repetitions in brackets)\n")
    print(render_headline(results))
    print("\n## Figures\n")
    print(render_table(rows))
    if results.get("decode"):
        print("\n## Replay decode: generic decoder vs hand-rolled codec\n")
        print(render_decode(results["decode"]))
    print("\n## Round trips against the bound (medians; calls of the last repetition)\n")
    print(render_bound(results))
    print("\n## Targets\n")
    target_rows = targets(results)
    print(render_targets(target_rows))
    passed = sum(1 for t in target_rows if t.ok)
    missed = sum(1 for t in target_rows if t.ok is False)
    print(
        f"\n{passed} PASS, {missed} MISS"
        + (" (smoke sizes: timings are not meaningful)" if args.smoke else "")
    )

    plot_path = (
        args.plot if args.plot is not None else (None if args.smoke else HERE / "per_step.png")
    )
    if plot_path is not None:
        if plot(results, plot_path):
            print(f"\nPlot written to {plot_path}")
        else:
            print("\nNo plot: matplotlib is not installed (pip install -e '.[benchmark]')")
        latency_path = plot_path.with_name("latency.png")
        if plot_latency(results, latency_path):
            print(f"Latency plot written to {latency_path}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"Raw results written to {args.json}")
    if args.write_baseline is not None:
        if len(sdks) < 2:
            print("Cannot write a baseline without the official SDK.")
            return 2
        ratios = baseline_ratios(rows)
        args.write_baseline.write_text(
            json.dumps(
                {
                    "meta": {
                        k: meta[k]
                        for k in (
                            "command",
                            "python",
                            "cores",
                            "cpu",
                            "durable_exec",
                            "aws-durable-execution-sdk-python",
                        )
                    },
                    "tolerance": {"factor": RATIO_TOLERANCE, "slack": RATIO_SLACK},
                    "ratios": ratios,
                },
                indent=1,
                sort_keys=True,
            )
            + "\n"
        )
        print(f"Baseline of {len(ratios)} ratios written to {args.write_baseline}")
    if args.check_ratios is not None:
        print("\n## Regression guard (ratios ours/official vs baseline)\n")
        if len(sdks) < 2:
            print(
                "SKIPPED: the official SDK is not installed, so there are no ratios to "
                "compare. Install the benchmark extra: pip install -e '.[benchmark]'"
            )
            return 0
        ok, lines = check_ratios(rows, args.check_ratios)
        print("\n".join(lines))
        print("\nregression guard: " + ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
