"""Views and renderings of executions, built in-process from real histories."""

from __future__ import annotations

import json

import pytest

from durable_exec import (
    DurableContext,
    Duration,
    RetryPresets,
    StepConfig,
    durable_execution,
)
from durable_exec._cli._api import DurableApi
from durable_exec._cli._render import (
    ASCII,
    UNICODE,
    execution_json,
    format_duration,
    glyphs_for,
    preview,
    render_execution,
    render_history,
    render_list,
    render_timeline,
)
from durable_exec._cli._view import ExecutionView, build_view, display_value


@durable_execution
def workflow(event: dict, context: DurableContext) -> dict:
    context.step(lambda _: {"big": "x" * 10_000}, name="big")
    context.wait(Duration.from_minutes(2), name="pause")
    context.map(list(range(event["items"])), lambda ctx, item, i, items: item * 2, name="double")
    return {"ok": True}


@durable_execution
def failing(event: dict, context: DurableContext) -> None:
    def boom(_: object) -> None:
        raise ValueError("no stock")

    context.step(boom, name="reserve", config=StepConfig(retry_strategy=RetryPresets.none()))


def view_of(runner, result) -> ExecutionView:
    api = DurableApi(runner.service, "test")
    return build_view(api.execution(result.arn), api.history(result.arn))


@pytest.fixture
def finished(make_runner) -> ExecutionView:
    runner = make_runner(workflow)
    return view_of(runner, runner.run({"items": 30}))


class TestView:
    def test_operations_form_a_tree_in_start_order(self, finished):
        """Top-level operations are roots; map items hang below the map."""
        assert [op.label for op in finished.roots] == ["big", "pause", "double"]
        double = finished.roots[2]
        assert double.sub_type == "Map"
        assert len(double.children) == 30
        assert all(op.status == "SUCCEEDED" for op in finished.operations)
        assert finished.invocations  # InvocationCompleted events were counted

    def test_retries_and_errors_are_folded_from_events(self, make_runner):
        """A failed step keeps its attempt count and error."""
        runner = make_runner(failing)
        view = view_of(runner, runner.run({}))
        (reserve,) = view.operations
        assert (reserve.status, reserve.attempts) == ("FAILED", 1)
        assert reserve.error is not None
        assert reserve.error["ErrorMessage"] == "no stock"
        assert view.status == "FAILED"

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            (None, None),
            ('"plain"', "plain"),
            ("not json", "not json"),
            (
                '{"t":"m","v":{"a":{"t":"i","v":1},"b":{"t":"l","v":[{"t":"s","v":"x"}]}}}',
                {"a": 1, "b": ["x"]},
            ),
            ('{"t":"dt","v":"2026-01-01T00:00:00+00:00"}', "2026-01-01T00:00:00+00:00"),
            ('{"t":"B","v":"aGk="}', "<2 bytes>"),
        ],
    )
    def test_display_value_decodes_the_sdk_envelope(self, payload, expected):
        """Payloads are shown as plain JSON values, never as Python objects."""
        assert display_value(payload) == expected


class TestText:
    def test_tree_collapses_long_sibling_lists(self, finished):
        """Thirty map items show twelve and a summary, unless everything is asked for."""
        items = [op.label for op in finished.roots[2].children]  # start order varies by thread
        text = render_execution(finished, UNICODE)
        assert all(f"{label} " in text for label in items[:12])
        assert not any(f"{label} " in text for label in items[12:])
        assert "18 more (18 succeeded); --all shows them" in text
        everything = render_execution(finished, UNICODE, show_all=True)
        assert all(f"{label} " in everything for label in items)

    def test_big_results_show_only_their_size(self, finished):
        """A 10 KB result is summarised by size in the tree."""
        assert "<9.8 KiB>" in render_execution(finished, UNICODE)

    def test_ascii_fallback(self, finished):
        """Terminals that cannot encode box drawing get ASCII."""
        assert glyphs_for("ascii") is ASCII
        assert glyphs_for("utf-8") is UNICODE
        render_execution(finished, ASCII).encode("ascii")
        render_timeline(finished, ASCII).encode("ascii")

    def test_timeline_spans_the_wait(self, finished):
        """The wait's bar fills the axis; instant operations are ticks."""
        lines = render_timeline(finished).splitlines()
        assert lines[0].endswith("2m")
        pause = next(line for line in lines if line.startswith("pause"))
        assert pause.count("█") > 40
        assert lines[-1].startswith("invocations")

    def test_history_and_list_tables(self, make_runner):
        """History lists events with offsets; list shows name, function and status."""
        runner = make_runner(failing)
        result = runner.run({}, execution_name="fail-1")
        events = runner.service.events(result.arn)
        text = render_history(events)
        assert "StepFailed" in text
        assert "ValueError: no stock" in text
        listed = runner.service.list_durable_executions_by_function(FunctionName="test-function")
        table = render_list(listed["DurableExecutions"])
        assert "fail-1" in table
        assert "FAILED" in table

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(0, "0s"), (0.25, "250ms"), (2, "2s"), (302, "5m 2s"), (3600, "1h"), (90_000, "1d 1h")],
    )
    def test_durations(self, seconds, text):
        """Durations read like a person would say them."""
        assert format_duration(seconds) == text

    def test_preview_truncates(self):
        """Long previews end with an ellipsis at the limit."""
        text = preview(json.dumps("y" * 500), UNICODE, limit=20)
        assert len(text) == 20
        assert text.endswith("…")


class TestJson:
    def test_operation_keys_are_stable(self, finished):
        """Every operation carries the same snake_case keys."""
        data = execution_json(finished)
        keys = {
            "id", "parent_id", "name", "type", "sub_type", "status", "attempts", "start", "end",
            "duration_seconds", "result", "result_bytes", "error", "callback_id", "function_name",
        }  # fmt: skip
        assert all(set(op) == keys for op in data["operations"])
        assert data["execution"]["result"] == {"ok": True}
        big = next(op for op in data["operations"] if op["name"] == "big")
        assert big["result"] == {"big": "x" * 10_000}  # JSON keeps the whole payload


class TestProgress:
    def test_draws_one_line_in_place_and_clears_it(self):
        """The progress line is redrawn with carriage returns and erased at the end."""
        import io

        from durable_exec._cli._progress import Progress
        from durable_exec.testing import VirtualClock

        stream = io.StringIO()
        progress = Progress(stream, enabled=True, clock=VirtualClock())
        progress.invocation("order-1")
        progress.checkpoint([{"Action": "START", "Type": "STEP", "Name": "charge"}])
        progress.wait(30)
        progress.clear()
        text = stream.getvalue()
        assert text.startswith("\r")
        assert "order-1" in text
        assert "next timer in 30s" in text
        assert text.endswith("\r")
        assert "\n" not in text

    def test_draws_nothing_when_disabled(self):
        """Off a terminal (or with --json) nothing is written."""
        import io

        from durable_exec._cli._progress import Progress
        from durable_exec.testing import VirtualClock

        stream = io.StringIO()
        progress = Progress(stream, enabled=False, clock=VirtualClock())
        progress.invocation("order-1")
        progress.clear()
        assert stream.getvalue() == ""


class TestPadding:
    def test_the_operation_column_is_as_wide_as_the_longest_name(self, finished):
        """A '... 18 more' summary row does not widen the operation column."""
        lines = render_execution(finished, UNICODE).splitlines()
        header = next(line for line in lines if line.startswith("operation"))
        column = header.index("type")
        rows = [
            line
            for line in lines
            if ("├─" in line or "└─" in line) and "more (" not in line
        ]
        longest = max(len(line[:column].rstrip()) for line in rows)
        assert column == longest + 2
        assert any("18 more" in line for line in lines)
