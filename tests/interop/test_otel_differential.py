"""Differential: the official OpenTelemetry plugin emits the same spans on both SDKs.

The same workflow runs start to end on the official SDK and on durable_exec, each
with the official ``aws-durable-execution-sdk-python-otel`` 2.0.0 plugin (unchanged,
registered through its own factories) writing to an in-memory exporter. The spans
are compared as a multiset of (name, kind, parent, attribute keys, links,
deterministic identity), in both the invocation view and the execution view.
Parents and links are named by what they point to: an exported span, the Nth
invocation, or one of the deterministic ids the plugin derives from the execution
ARN (the Workflow span, the execution root, an operation's logical span). Every
workflow spans several invocations, so replays are compared too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

otel = pytest.importorskip("aws_durable_execution_sdk_python_otel")
pytest.importorskip("opentelemetry.sdk.trace")

from both_sdks import STEP_KINDS as GENERATED_KINDS  # noqa: E402
from both_sdks import (  # noqa: E402
    WORKFLOWS,
    Workflow,
    generated,
    invoke_and_condition,
    sdk_namespace,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from sdk_driver import Driver  # noqa: E402

import durable_exec  # noqa: E402
from durable_exec.testing import LocalDurableService, VirtualClock  # noqa: E402

VIEWS = {
    "invocation": otel.InvocationOtelPluginFactory,
    "execution": otel.ExecutionOtelPluginFactory,
}


# -- running and comparing ------------------------------------------------------------


class Run:
    """One execution of a workflow on one SDK, with the plugin of one view."""

    def __init__(self, workflow: Workflow, sdk_name: str, view: str) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        config = otel.OtelPluginConfig(tracer_provider=provider, enrich_logger=False)
        factory = VIEWS[view](config)
        clock = VirtualClock()
        self.service = LocalDurableService(clock)
        driver = Driver(self.service, clock)
        driver.callback_answers = {"approval": '"yes"', "second": '"also"'}
        driver.invoke_results = {"other-fn": {"r": 7}}
        sdk = sdk_namespace(sdk_name)
        body = workflow(sdk)
        if sdk_name == "durable_exec":
            handler = sdk.durable_execution(body, plugins=[factory])
            invoke = driver.ours(handler)
        else:
            handler = sdk.durable_execution(body, boto3_client=driver.client, plugins=[factory])
            invoke = driver.official(handler)
        self.arn = driver.run(lambda n: invoke, {"x": 1}, name="differential")
        self.status = self.service.execution_status(self.arn)
        self.invocations = len(driver.outputs)
        self.updates = driver.client.updates
        self.spans: list[ReadableSpan] = list(self.exporter.get_finished_spans())

    def canonical(self) -> list[tuple[Any, ...]]:
        """The spans, with ids replaced by what they stand for, sorted."""
        arn = self.arn
        spans = self.spans
        by_id = {s.context.span_id: s for s in spans}
        invocations = sorted(
            (s for s in spans if s.name == "Invocation"), key=lambda s: s.start_time or 0
        )
        numbered = {s.context.span_id: f"Invocation#{n}" for n, s in enumerate(invocations)}
        derived = {
            otel.derive_workflow_span_id(arn): "workflow-id",
            otel.derive_execution_root_span_id(arn): "execution-root-id",
        }
        for op in self.service.operations(arn):
            derived.setdefault(otel.operation_id_to_span_id(arn, op["Id"]), f"logical:{op['Id']}")

        def label(span_id: int) -> str:
            if span_id in numbered:
                return numbered[span_id]
            if span_id in derived:
                return derived[span_id]
            span = by_id.get(span_id)
            if span is None:
                return "<unknown>"
            return f"{span.name}|{(span.attributes or {}).get('durable.operation.id', '')}"

        return sorted(
            (
                numbered.get(s.context.span_id, s.name),
                s.kind.name,
                label(s.parent.span_id) if s.parent is not None else None,
                tuple(sorted((s.attributes or {}).keys())),
                tuple(sorted(label(link.context.span_id) for link in s.links)),
                derived.get(s.context.span_id, "fresh"),
            )
            for s in spans
        )


def _assert_same_spans(workflow: Workflow, view: str) -> tuple[Run, Run]:
    theirs = Run(workflow, "official", view)
    ours = Run(workflow, "durable_exec", view)
    assert ours.status == theirs.status
    assert ours.invocations == theirs.invocations
    assert theirs.spans, "the official run produced no spans: the comparison would be empty"
    assert ours.canonical() == theirs.canonical()
    return theirs, ours


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_the_same_workflow_gives_the_same_spans(name, view):
    """Names, kinds, parents, attribute keys and links match the official SDK's, span for span."""
    theirs, _ = _assert_same_spans(WORKFLOWS[name], view)
    assert theirs.invocations >= 2 or name == "parallel-and-flat-map"


def test_the_invoke_carries_the_plugins_trace_header():
    """The plugin's trace header reaches the invoke's START, as on the official SDK."""
    theirs, ours = _assert_same_spans(invoke_and_condition, "invocation")

    def header(run: Run) -> str:
        starts = [
            u for u in run.updates if u["Type"] == "CHAINED_INVOKE" and u["Action"] == "START"
        ]
        assert len(starts) == 1
        return starts[0]["ChainedInvokeOptions"]["XAmznTraceId"]

    ours_header, theirs_header = header(ours), header(theirs)
    assert ours_header.startswith("Root=1-")
    assert [part.split("=")[0] for part in ours_header.split(";")] == [
        part.split("=")[0] for part in theirs_header.split(";")
    ]


STEP_KINDS = st.sampled_from(GENERATED_KINDS)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(STEP_KINDS, min_size=1, max_size=5), view=st.sampled_from(list(VIEWS)))
def test_generated_workflows_give_the_same_spans(program, view):
    """Any sequence of steps, waits, child contexts, maps and retried steps: the same spans."""

    _assert_same_spans(generated(program), view)


def test_the_plugin_loads_from_the_environment_variable(tmp_path):
    """DURABLE_EXECUTION_PLUGINS=otel-execution loads the installed plugin by its entry point."""
    script = textwrap.dedent(
        """
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from durable_exec import durable_execution
        from durable_exec.testing import DurableTestRunner

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        @durable_execution
        def handler(event, context):
            return context.step(lambda _: 42, name="answer")

        result = DurableTestRunner(handler).run()
        print(json.dumps([result.status, sorted(s.name for s in exporter.get_finished_spans())]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**_env(), "DURABLE_EXECUTION_PLUGINS": "otel-execution"},
        cwd=tmp_path,
    )
    status, names = json.loads(out.stdout.strip().splitlines()[-1])
    assert status == "SUCCEEDED"
    assert names == ["DurableExecutionRoot", "Invocation", "Workflow", "answer", "answer attempt 1"]


def _env() -> dict[str, str]:
    import os

    root = str(__import__("pathlib").Path(durable_exec.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root}
