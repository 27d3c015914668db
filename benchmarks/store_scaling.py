"""How the local store and `durable-exec` scale with the size of an execution (issue 13).

Usage::

    python -m benchmarks store-scaling            # full sizes (a few minutes)
    python -m benchmarks store-scaling --smoke    # tiny sizes: it runs, figures mean little
    python -m benchmarks.store_scaling --json out.json

Three measurements, each against its target:

* **Per-operation cost** of a workflow of N sequential steps driven the way
  ``durable-exec run`` drives it (the CLI's driver, the local service, the
  SQLite store), for N = 1,000, 5,000 and 20,000. Target: the cost per
  operation at 20,000 is within 1.3x of the cost at 1,000 (flat: a checkpoint
  writes only what its batch changed). The same workflow on the in-memory
  store is shown beside it.
* **The command line vs the in-memory runner** for ``examples/fan_out.py`` with
  5,000 lines: ``durable-exec run`` in a fresh process (interpreter start, the
  SQLite store, the final report included) against ``DurableTestRunner`` in
  this process. Target: within 2x.
* **``durable-exec list``** on a store holding 1,000 executions (each a
  finished fan-out of 20 lines, about 70 operations): the command in this
  process (what the command costs) and in a fresh process (what a user waits,
  interpreter start included). Target: under 0.3 s.

Every figure is the median of the repetitions (``--reps``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

PER_OP_TARGET = 1.3
CLI_TARGET = 2.0
LIST_TARGET_SECONDS = 0.3


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _time(thunk: Callable[[], object]) -> float:
    start = time.perf_counter()
    thunk()
    return time.perf_counter() - start


# ------------------------------------------------------------------ per operation


def _sequential(count: int) -> Any:
    from durable_exec import DurableContext, durable_execution

    @durable_execution
    def handler(event: dict[str, Any], context: DurableContext) -> int:
        total = 0
        for i in range(event["n"]):
            total += context.step(lambda _, i=i: i, name=f"s{i}")
        return total

    del count
    return handler


def _drive(handler: Any, payload: str, store_path: Path | None) -> tuple[float, float]:
    """Drive one execution as `durable-exec run` does; return (wall, CPU) seconds."""
    from durable_exec._cli._driver import Driver
    from durable_exec._cli._progress import Progress
    from durable_exec._clock import SYSTEM_CLOCK
    from durable_exec.testing import LocalDurableService, SqliteStore, VirtualClock

    store = SqliteStore(store_path) if store_path is not None else None
    try:
        clock = VirtualClock(SYSTEM_CLOCK.now())
        service = LocalDurableService(clock, store)
        arn = service.start_execution("bench", payload)
        driver = Driver(service, clock, {}, Progress(sys.stderr, enabled=False, clock=clock))
        cpu = time.process_time()
        start = time.perf_counter()
        status = driver.drive(arn, handler)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        assert status == "SUCCEEDED", status
        return seconds, cpu
    finally:
        if store is not None:
            store.close()


def per_operation(sizes: list[int], reps: int, workdir: Path) -> dict[str, Any]:
    """Per-operation cost of N sequential steps, SQLite store and memory store."""
    rows = []
    for n in sizes:
        handler = _sequential(n)
        payload = json.dumps({"n": n})
        sqlite_samples = []
        memory_samples = []
        for rep in range(reps):
            path = workdir / f"seq-{n}-{rep}.db"
            sqlite_samples.append(_drive(handler, payload, path))
            memory_samples.append(_drive(handler, payload, None))
        rows.append(
            {
                "operations": n,
                "sqlite_us_per_op": _median([w for w, _ in sqlite_samples]) / n * 1e6,
                "sqlite_cpu_us_per_op": _median([c for _, c in sqlite_samples]) / n * 1e6,
                "memory_us_per_op": _median([w for w, _ in memory_samples]) / n * 1e6,
                "memory_cpu_us_per_op": _median([c for _, c in memory_samples]) / n * 1e6,
            }
        )
    first, last = rows[0], rows[-1]
    ratio = last["sqlite_us_per_op"] / first["sqlite_us_per_op"]
    cpu_ratio = last["sqlite_cpu_us_per_op"] / first["sqlite_cpu_us_per_op"]
    return {
        "rows": rows,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "target": PER_OP_TARGET,
        "met": ratio <= PER_OP_TARGET,
        "cpu_met": cpu_ratio <= PER_OP_TARGET,
    }


# ------------------------------------------------------------------ CLI vs runner


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(args: list[str], cwd: Path, cpu: list[float] | None = None) -> float:
    """Run `durable-exec ARGS` in a fresh process; return its wall time (append its CPU time)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "durable_exec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if cpu is not None:
        cpu.append(_children_cpu() - cpu_before)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"durable-exec {' '.join(args)} failed: {done.stderr[-2000:]}")
    return seconds


def cli_vs_runner(lines: int, reps: int, workdir: Path) -> dict[str, Any]:
    """`durable-exec run examples/fan_out.py` in a fresh process vs DurableTestRunner."""
    from durable_exec.testing import DurableTestRunner

    handler = _example("fan_out").handler
    payload = {"lines": lines}
    runner_samples: list[float] = []
    runner_cpu: list[float] = []
    cli_samples: list[float] = []
    cli_cpu: list[float] = []
    for rep in range(reps):
        cpu_before = time.process_time()
        runner_samples.append(_time(lambda: DurableTestRunner(handler).run(payload)))
        runner_cpu.append(time.process_time() - cpu_before)
        store = workdir / f"fan-{lines}-{rep}.db"
        cli_samples.append(
            _cli(
                [
                    "run",
                    f"{EXAMPLES / 'fan_out.py'}:handler",
                    "--input",
                    json.dumps(payload),
                    "--json",
                    "--store",
                    str(store),
                ],
                workdir,
                cli_cpu,
            )
        )
    runner = _median(runner_samples)
    cli = _median(cli_samples)
    ratio = cli / runner
    return {
        "lines": lines,
        "runner_seconds": runner,
        "cli_seconds": cli,
        "runner_cpu_seconds": _median(runner_cpu),
        "cli_cpu_seconds": _median(cli_cpu),
        "cpu_ratio": _median(cli_cpu) / _median(runner_cpu),
        "ratio": ratio,
        "target": CLI_TARGET,
        "met": ratio <= CLI_TARGET,
    }


# ------------------------------------------------------------------ list


def _fill(path: Path, executions: int, lines: int) -> int:
    """Store ``executions`` finished fan-outs of ``lines`` lines; return the file's size."""
    from durable_exec._clock import SYSTEM_CLOCK
    from durable_exec.testing import DurableTestRunner, LocalDurableService, SqliteStore
    from durable_exec.testing import VirtualClock as Clock

    handler = _example("fan_out").handler
    with SqliteStore(path) as store:
        service = LocalDurableService(Clock(SYSTEM_CLOCK.now()), store)
        runner = DurableTestRunner(handler, service=service, function_name="fan_out")
        for i in range(executions):
            runner.run({"lines": lines}, execution_name=f"fan-{i:05d}")
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.name.startswith(path.name))


def list_executions(executions: int, lines: int, reps: int, workdir: Path) -> dict[str, Any]:
    """`durable-exec list` on a store of ``executions`` executions, in and out of process."""
    from durable_exec._cli._app import main

    path = workdir / "listing" / "executions.db"
    path.parent.mkdir(mode=0o700)
    size = _fill(path, executions, lines)
    in_process = []
    for _ in range(reps):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            start = time.perf_counter()
            code = main(["list", "--store", str(path)])
            in_process.append(time.perf_counter() - start)
        if code != 0 or f"fan-{executions - 1:05d}" not in output.getvalue():
            raise RuntimeError(f"durable-exec list failed ({code}): {output.getvalue()[-500:]}")
    fresh = [_cli(["list", "--store", str(path)], workdir) for _ in range(reps)]
    baseline = [_cli(["--version"], workdir) for _ in range(reps)]
    command = _median(in_process)
    return {
        "executions": executions,
        "store_bytes": size,
        "command_seconds": command,
        "fresh_process_seconds": _median(fresh),
        "interpreter_start_seconds": _median(baseline),
        "target_seconds": LIST_TARGET_SECONDS,
        "met": command <= LIST_TARGET_SECONDS,
    }


# ------------------------------------------------------------------ report


def _report(results: dict[str, Any]) -> str:
    lines = ["store scaling (median of repetitions)", ""]
    per_op = results["per_operation"]
    lines.append(
        f"{'operations':>10}  {'SQLite µs/op wall':>17}  {'CPU':>6}  "
        f"{'memory µs/op wall':>17}  {'CPU':>6}"
    )
    lines.extend(
        f"{row['operations']:>10,}  {row['sqlite_us_per_op']:>17.1f}  "
        f"{row['sqlite_cpu_us_per_op']:>6.1f}  {row['memory_us_per_op']:>17.1f}  "
        f"{row['memory_cpu_us_per_op']:>6.1f}"
        for row in per_op["rows"]
    )
    verdict = "met" if per_op["met"] else "MISSED"
    cpu_verdict = "met" if per_op["cpu_met"] else "MISSED"
    lines.append(
        f"per-operation cost with the SQLite store, largest/smallest: wall "
        f"{per_op['ratio']:.2f}x ({verdict}), CPU {per_op['cpu_ratio']:.2f}x ({cpu_verdict}); "
        f"target <= {PER_OP_TARGET}x"
    )
    lines.append("")
    cli = results["cli_vs_runner"]
    verdict = "met" if cli["met"] else "MISSED"
    lines.append(
        f"fan_out {cli['lines']:,} lines: durable-exec run {cli['cli_seconds']:.2f} s, "
        f"DurableTestRunner {cli['runner_seconds']:.2f} s: {cli['ratio']:.2f}x "
        f"(target <= {CLI_TARGET}x: {verdict}); CPU time {cli['cli_cpu_seconds']:.2f} s vs "
        f"{cli['runner_cpu_seconds']:.2f} s: {cli['cpu_ratio']:.2f}x"
    )
    listing = results["list"]
    verdict = "met" if listing["met"] else "MISSED"
    lines.append(
        f"durable-exec list, {listing['executions']:,} executions "
        f"({listing['store_bytes'] / 1e6:.1f} MB): command {listing['command_seconds']:.3f} s "
        f"(target < {LIST_TARGET_SECONDS} s: {verdict}); fresh process "
        f"{listing['fresh_process_seconds']:.2f} s, of which interpreter start and imports "
        f"{listing['interpreter_start_seconds']:.2f} s (`durable-exec --version`)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the measurements, print them, and write JSON if asked."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks store-scaling")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (it runs; that is all)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 smoke)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 3)
    sizes = [100, 400] if args.smoke else [1000, 5000, 20000]
    lines = 200 if args.smoke else 5000
    executions = 50 if args.smoke else 1000
    with tempfile.TemporaryDirectory(prefix="store-scaling-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o700)
        results = {
            "per_operation": per_operation(sizes, reps, workdir),
            "cli_vs_runner": cli_vs_runner(lines, reps, workdir),
            "list": list_executions(executions, 20, reps, workdir),
            "python": sys.version.split()[0],
            "smoke": args.smoke,
        }
    print(_report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
