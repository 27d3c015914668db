"""The two SDKs behind one small interface, and the workloads written once for both.

Both SDKs expose the same handler API (``ctx.step``, ``ctx.wait``,
``ctx.run_in_child_context``, ``ctx.map``), so each workload is one function
parametrised by the SDK's ``Duration`` and ``MapConfig`` classes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

__all__ = [
    "SDK",
    "Workload",
    "load_sdks",
    "make_workloads",
    "map_bound",
    "nested_bound",
    "official_available",
    "parallel_bound",
    "shape_workloads",
]

OFFICIAL_PACKAGE = "aws_durable_execution_sdk_python"
OFFICIAL_TESTING_PACKAGE = "aws_durable_execution_sdk_python_testing"


def official_available() -> str | None:
    """Return None if the official SDK and its testing package import, else the reason."""
    for name in (OFFICIAL_PACKAGE, OFFICIAL_TESTING_PACKAGE):
        if importlib.util.find_spec(name) is None:
            return (
                f"{name} is not installed. Install the benchmark extra to compare with the "
                "official SDK: pip install -e '.[benchmark]'"
            )
    return None


@dataclasses.dataclass
class SDK:
    """What the harness needs from an SDK.

    Attributes:
        name: Short label.
        durable_execution: The decorator (accepts ``boto3_client=``).
        duration: ``Duration.from_seconds``.
        map_config: ``MapConfig(max_concurrency=...)`` factory.
        run_in_runner: Runs a decorated handler to its end in the SDK's own
            in-process test runner; returns ``(status, result_json_or_value)``.
    """

    name: str
    durable_execution: Callable[..., Any]
    duration: Callable[[int], Any]
    map_config: Callable[[int], Any]
    run_in_runner: Callable[[Any, Any], tuple[str, Any]]


def _ours() -> SDK:
    from durable_exec import Duration, MapConfig, durable_execution
    from durable_exec.testing import DurableTestRunner

    def run_in_runner(handler: Any, payload: Any) -> tuple[str, Any]:
        result = DurableTestRunner(handler).run(payload)
        return result.status, result.result

    return SDK(
        name="durable_exec",
        durable_execution=durable_execution,
        duration=Duration.from_seconds,
        map_config=lambda n: MapConfig(max_concurrency=n),
        run_in_runner=run_in_runner,
    )


def _official() -> SDK:
    import json

    from aws_durable_execution_sdk_python import durable_execution
    from aws_durable_execution_sdk_python.config import Duration, MapConfig
    from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner

    def run_in_runner(handler: Any, payload: Any) -> tuple[str, Any]:
        # poll_interval as measured in PEERS.md §3 (it only paces callback polling).
        with DurableFunctionTestRunner(handler=handler, poll_interval=0.01) as runner:
            result = runner.run(input=None if payload is None else json.dumps(payload))
        value = json.loads(result.result) if result.result else None
        return str(result.status.value), value

    return SDK(
        name="official",
        durable_execution=durable_execution,
        duration=Duration.from_seconds,
        map_config=lambda n: MapConfig(max_concurrency=n),
        run_in_runner=run_in_runner,
    )


def load_sdks(*, include_official: bool = True) -> list[SDK]:
    """Return durable_exec, and the official SDK when it is installed and wanted."""
    sdks = [_ours()]
    if include_official and official_available() is None:
        sdks.append(_official())
    return sdks


# -- workloads ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workload:
    """A handler body plus what a correct run returns.

    Attributes:
        key: Short id (``seq``, ``map``...) used in tables and the baseline.
        n: Size (steps or items); 0 when not applicable.
        build: ``build(sdk) -> handler_body(event, ctx)``.
        expected: The result a correct run returns.
        per: Unit of ``n`` for per-item figures (``step``, ``item``, ``op``).
        latency_ms: Simulated latency of every API call.
        calls_bound: The fewest checkpoint calls any SDK can make for this
            workload under our protocol rules (see :func:`calls_bound`).
    """

    key: str
    n: int
    build: Callable[[SDK], Callable[[Any, Any], Any]]
    expected: Any
    per: str = "step"
    latency_ms: float = 0.0
    calls_bound: int | None = None

    @property
    def label(self) -> str:
        label = f"{self.key} {self.n:,}" if self.n else self.key
        return f"{label} @{self.latency_ms:g}ms" if self.latency_ms else label


def _empty(sdk: SDK) -> Callable[[Any, Any], Any]:
    def handler(event: Any, ctx: Any) -> Any:
        return None

    return handler


def _seq(n: int) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        def handler(event: Any, ctx: Any) -> Any:
            total = 0
            for i in range(n):
                total += ctx.step(lambda _, i=i: i, name=f"s{i}")
            return total

        return handler

    return build


def _replay(n: int) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        one_second = sdk.duration(1)

        def handler(event: Any, ctx: Any) -> Any:
            total = 0
            for i in range(n):
                total += ctx.step(lambda _, i=i: i, name=f"s{i}")
            ctx.wait(one_second, name="pause")
            total += ctx.step(lambda _: 1, name="after")
            return total

        return handler

    return build


def _map(n: int, concurrency: int) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        config = sdk.map_config(concurrency)

        def item(ctx: Any, value: int, index: int, items: Any) -> int:
            return int(ctx.step(lambda _: value * 2, name="double"))

        def handler(event: Any, ctx: Any) -> Any:
            result = ctx.map(list(range(n)), item, name="items", config=config)
            return sum(result.get_results())

        return handler

    return build


def _parallel(n: int) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    """``ctx.parallel`` of ``n`` branches, one step each, default concurrency."""

    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        def branch(i: int) -> Callable[[Any], int]:
            return lambda ctx: int(ctx.step(lambda _: i, name="work"))

        branches = [branch(i) for i in range(n)]

        def handler(event: Any, ctx: Any) -> Any:
            return sum(ctx.parallel(branches, name="fan-out").get_results())

        return handler

    return build


def _map_child(n: int, concurrency: int) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    """A map whose items each run a child context of 3 steps."""

    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        config = sdk.map_config(concurrency)

        def item(ctx: Any, value: int, index: int, items: Any) -> int:
            def three(child: Any) -> int:
                a = child.step(lambda _: value, name="a")
                b = child.step(lambda _: a + 1, name="b")
                return int(child.step(lambda _: a + b, name="c"))

            return int(ctx.run_in_child_context(three, name="item"))

        def handler(event: Any, ctx: Any) -> Any:
            return sum(ctx.map(list(range(n)), item, name="items", config=config).get_results())

        return handler

    return build


def _nested_map(
    outer: int, inner: int, concurrency: int
) -> Callable[[SDK], Callable[[Any, Any], Any]]:
    """A map of ``outer`` items, each running a map of ``inner`` one-step items."""

    def build(sdk: SDK) -> Callable[[Any, Any], Any]:
        config = sdk.map_config(concurrency)

        def leaf(ctx: Any, value: int, index: int, items: Any) -> int:
            return int(ctx.step(lambda _: value, name="leaf"))

        def branch(ctx: Any, value: int, index: int, items: Any) -> int:
            values = [value * inner + j for j in range(inner)]
            return sum(ctx.map(values, leaf, name="inner", config=config).get_results())

        def handler(event: Any, ctx: Any) -> Any:
            return sum(
                ctx.map(list(range(outer)), branch, name="outer", config=config).get_results()
            )

        return handler

    return build


def _mixed(sdk: SDK) -> Callable[[Any, Any], Any]:
    one_second = sdk.duration(1)
    config = sdk.map_config(4)

    def child(ctx: Any) -> int:
        a = ctx.step(lambda _: 10, name="c1")
        b = ctx.step(lambda _: 20, name="c2")
        return int(a + b)

    def item(ctx: Any, value: int, index: int, items: Any) -> int:
        return int(ctx.step(lambda _: value + 1, name="inc"))

    def handler(event: Any, ctx: Any) -> Any:
        total = 0
        for i in range(5):
            total += ctx.step(lambda _, i=i: i, name=f"s{i}")
        ctx.wait(one_second, name="pause")
        total += ctx.run_in_child_context(child, name="child")
        result = ctx.map(list(range(10)), item, name="small-map", config=config)
        total += sum(result.get_results())
        total += ctx.step(lambda _: {"done": True, "n": 1}, name="final")["n"]
        return total

    return handler


def _seq_total(n: int) -> int:
    return n * (n - 1) // 2


MAX_UPDATES_PER_CALL = 250


def _calls(updates: int) -> int:
    return -(-updates // MAX_UPDATES_PER_CALL)


def map_bound(n: int, concurrency: int, sync_points: int = 1, updates_per_item: int = 4) -> int:
    """Fewest calls for a map of ``n`` items, ``concurrency`` at a time.

    Our rules: a step's outcome, and a user child context's outcome, are durable
    before they return (a *sync point*); a START may share the call of its
    outcome; a branch's own CONTEXT outcome is not waited for; the map's outcome
    is durable before the map returns; a slot takes its next item only when the
    previous one returned; one call at a time (one token chain), at most 250
    updates each. Each slot runs ceil(n / concurrency) items one after another,
    each item's sync points one call apart; the map's outcome needs the last
    item's value, so it takes one call more.
    """
    waves = -(-n // concurrency)
    return max(waves * sync_points, _calls(n * updates_per_item + 1)) + 1


def parallel_bound(branches: int, width: int) -> int:
    """Fewest calls for ``branches`` one-step branches, ``width`` at a time (see map_bound).

    A wave of w branches queues 3w updates (CONTEXT START, STEP START, STEP
    SUCCEED) plus the previous wave's w CONTEXT SUCCEEDs; it needs
    ceil(updates / 250) calls, the parallel's outcome one more.
    """
    calls, previous, first = 0, 0, 1
    for start in range(0, branches, width):
        wave = min(width, branches - start)
        calls += _calls(3 * wave + previous + first)
        previous, first = wave, 0
    return calls + _calls(previous + 1)


def nested_bound(outer: int, inner: int) -> int:
    """Fewest calls for a map of ``outer`` maps of ``inner`` one-step items, all at once.

    Three sync points in a row (a leaf's step, the inner map's outcome, the outer
    map's outcome), and the first of them is shared by every leaf: its wave
    (3 updates per leaf, the inner maps' and the outer items' STARTs, the outer
    map's START) is split at 250 updates per call.
    """
    first_wave = 3 * outer * inner + 2 * outer + 1
    return _calls(first_wave) + 2


SHAPES = ("parallel", "mapchild", "nested")
"""The other shapes of fan-out (``--only parallel,mapchild,nested`` selects them)."""


def shape_workloads(latency_ms: float) -> list[Workload]:
    """Parallel of 100 branches; a 100-item map of 3-step child contexts; a 10 x 10 nested map."""
    return [
        Workload(
            "parallel",
            100,
            _parallel(100),
            _seq_total(100),
            per="branch",
            latency_ms=latency_ms,
            calls_bound=parallel_bound(100, 100),
        ),
        Workload(
            "mapchild",
            100,
            _map_child(100, 10),
            sum(2 * v + 1 for v in range(100)),
            per="item",
            latency_ms=latency_ms,
            calls_bound=map_bound(100, 10, sync_points=4, updates_per_item=10),
        ),
        Workload(
            "nested",
            100,
            _nested_map(10, 10, 10),
            _seq_total(100),
            per="item",
            latency_ms=latency_ms,
            calls_bound=nested_bound(10, 10),
        ),
    ]


def make_workloads(
    seq_sizes: tuple[int, ...],
    map_sizes: tuple[int, ...],
    *,
    concurrency: int = 10,
    latency_ms: float = 0.0,
    latency_seq_sizes: tuple[int, ...] = (),
    latency_map_sizes: tuple[int, ...] = (),
    target_latency_ms: float = 10.0,
    sweep_latencies_ms: tuple[float, ...] = (),
    shape_latencies_ms: tuple[float, ...] = (),
) -> dict[str, Workload]:
    """Return every workload of a run, keyed by label.

    ``latency_ms`` applies to the main workloads; the ``latency_*_sizes`` ones
    always run with ``target_latency_ms`` (the round-trip target), the map ones
    also with every latency of ``sweep_latencies_ms``; the other shapes run at
    each of ``shape_latencies_ms``.
    """
    out: list[Workload] = [Workload("empty", 0, _empty, None, latency_ms=latency_ms)]
    out += [
        Workload("seq", n, _seq(n), _seq_total(n), latency_ms=latency_ms, calls_bound=n)
        for n in seq_sizes
    ]
    out += [
        Workload("replay", n, _replay(n), _seq_total(n) + 1, per="op", latency_ms=latency_ms)
        for n in seq_sizes
    ]
    out += [
        Workload(
            "map",
            n,
            _map(n, concurrency),
            n * (n - 1),
            per="item",
            latency_ms=latency_ms,
            calls_bound=map_bound(n, concurrency),
        )
        for n in map_sizes
    ]
    out.append(Workload("mixed", 0, _mixed, 10 + 30 + 55 + 1, latency_ms=latency_ms))
    out += [
        Workload("seq", n, _seq(n), _seq_total(n), latency_ms=target_latency_ms, calls_bound=n)
        for n in latency_seq_sizes
    ]
    map_latencies = sorted({target_latency_ms, *sweep_latencies_ms})
    out += [
        Workload(
            "map",
            n,
            _map(n, concurrency),
            n * (n - 1),
            per="item",
            latency_ms=ms,
            calls_bound=map_bound(n, concurrency),
        )
        for ms in map_latencies
        for n in latency_map_sizes
    ]
    for ms in shape_latencies_ms:
        out += shape_workloads(ms)
    return {w.label: w for w in out}
