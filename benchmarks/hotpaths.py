"""Profile one workload of one SDK, all threads, and print where the CPU goes.

Usage::

    python -m benchmarks.hotpaths seq 1000                    # durable_exec, fake client
    python -m benchmarks.hotpaths map 1000 --backend runner   # durable_exec's test runner
    python -m benchmarks.hotpaths seq 1000 --sdk official

Uses yappi (CPU clock, every thread: half of a step's work happens on the
checkpoint thread, which cProfile alone would not see). Profiler overhead
inflates small functions several times over; read the output for proportions
and call counts, not absolute times.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fake_client import run_execution
from benchmarks.sdks import load_sdks, make_workloads


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hotpaths")
    p.add_argument("kind", choices=["seq", "replay", "map", "mixed", "empty"])
    p.add_argument("n", type=int, nargs="?", default=1000)
    p.add_argument("--sdk", default="durable_exec", choices=["durable_exec", "official"])
    p.add_argument("--backend", default="fake", choices=["fake", "runner"])
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--sort", default="tsub", choices=["tsub", "ttot", "ncall"])
    args = p.parse_args(argv)
    try:
        import yappi
    except ImportError:
        print("yappi is not installed: pip install yappi")
        return 2
    sdks = {s.name: s for s in load_sdks(include_official=args.sdk == "official")}
    if args.sdk not in sdks:
        print("the official SDK is not installed: pip install -e '.[benchmark]'")
        return 2
    sdk = sdks[args.sdk]
    workloads = make_workloads((args.n,), (args.n,))
    label = args.kind if args.kind in ("mixed", "empty") else f"{args.kind} {args.n:,}"
    workload = workloads[label]

    def once() -> None:
        if args.backend == "fake":
            body = workload.build(sdk)
            run_execution(lambda client: sdk.durable_execution(boto3_client=client)(body))
        else:
            sdk.run_in_runner(sdk.durable_execution(workload.build(sdk)), None)

    once()  # warm up (lazy imports)
    yappi.set_clock_type("cpu")
    yappi.start()
    once()
    yappi.stop()
    stats = yappi.get_func_stats()
    stats.sort(args.sort)
    total = sum(t.ttot for t in yappi.get_thread_stats())
    print(f"{sdk.name} {label} on {args.backend}: {total:.3f} s CPU under yappi, all threads\n")
    print(f"{'function':<78} {'calls':>9} {'self s':>8} {'self %':>7} {'incl s':>8}")
    for stat in list(stats)[: args.top]:
        name = f"{Path(stat.module).name}:{stat.lineno} {stat.name}"
        share = stat.tsub / total * 100 if total else 0.0
        print(f"{name[:78]:<78} {stat.ncall:>9} {stat.tsub:>8.3f} {share:>6.1f}% {stat.ttot:>8.3f}")
    groups: dict[str, float] = {}
    for stat in stats:
        groups[_group(stat.module)] = groups.get(_group(stat.module), 0.0) + stat.tsub
    print("\nself time by component:")
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1]):
        share = seconds / total * 100 if total else 0.0
        print(f"  {group:<44} {seconds:8.3f} s {share:6.1f}%")
    yappi.clear_stats()
    return 0


_GROUPS = (
    ("durable_exec/testing/", "durable_exec.testing (in-memory service)"),
    ("durable_exec/", "durable_exec (SDK)"),
    ("aws_durable_execution_sdk_python_testing/", "official testing runner"),
    ("aws_durable_execution_sdk_python/", "official SDK"),
    ("benchmarks/", "benchmark harness and fake client"),
    ("threading.py", "threading (locks, conditions)"),
    ("json/", "json"),
)


def _group(module: str) -> str:
    path = module.replace("\\", "/")
    for needle, label in _GROUPS:
        if needle in path:
            return label
    return "other (stdlib, builtins)"


if __name__ == "__main__":
    raise SystemExit(main())
