"""Operation configs: official field order and defaults, checked on construction."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import importlib.util
import math
from typing import Any

import pytest

import durable_exec
from durable_exec import (
    BatchItemStatus,
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
    Duration,
    ExtendedTypeSerDes,
    InvokeConfig,
    JsonSerDes,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    RetryDecision,
    RetryPresets,
    StepConfig,
    StepSemantics,
    ValidationError,
    WaitForCallbackConfig,
    complete_batch,
    continue_batch,
    durable_execution,
)
from durable_exec._config import MAX_CALLBACK_TIMEOUT, validate_name, validate_sub_type


def never_complete(status):
    return continue_batch()


class TestSubTypeAndName:
    @pytest.mark.parametrize("sub_type", [None, "", "Step", "a", "x" * 32, "My-Type_2"])
    def test_valid_sub_types(self, sub_type):
        """None and "" select the default; 1-32 of [A-Za-z0-9_-] are accepted."""
        assert validate_sub_type(sub_type) is None

    @pytest.mark.parametrize("sub_type", ["bad type", "x" * 33, "ünï", "a.b", 5])
    def test_invalid_sub_types(self, sub_type):
        """Anything else raises ValidationError naming the value."""
        with pytest.raises(ValidationError, match="sub_type"):
            validate_sub_type(sub_type)

    @pytest.mark.parametrize("name", [None, "n", "x" * 256, "order #1 (retry)", " ~"])
    def test_valid_names(self, name):
        """Names of 1-256 printable ASCII characters are accepted, as the API requires."""
        assert validate_name(name) is None

    @pytest.mark.parametrize("name", ["", "x" * 257, "tab\there", "ünï", "\x7f", 5])
    def test_invalid_names(self, name):
        """Empty, too long, non-printable or non-string names raise ValidationError."""
        with pytest.raises(ValidationError, match="name"):
            validate_name(name)


class TestStepConfig:
    def test_defaults_match_the_official_sdk(self):
        """StepConfig() has no retry strategy (default preset), at-least-once, no serdes."""
        config = StepConfig()
        assert (config.retry_strategy, config.step_semantics, config.serdes, config.sub_type) == (
            None,
            StepSemantics.AT_LEAST_ONCE_PER_RETRY,
            None,
            None,
        )

    def test_positional_order_matches_the_official_sdk(self):
        """StepConfig(retry_strategy, step_semantics, serdes) in that order."""
        strategy, serdes = RetryPresets.none(), ExtendedTypeSerDes()
        config = StepConfig(strategy, StepSemantics.AT_MOST_ONCE_PER_RETRY, serdes)
        assert (config.retry_strategy, config.step_semantics, config.serdes) == (
            strategy,
            StepSemantics.AT_MOST_ONCE_PER_RETRY,
            serdes,
        )

    def test_sub_type_is_keyword_only(self):
        """sub_type cannot be passed positionally."""
        with pytest.raises(TypeError):
            StepConfig(None, StepSemantics.AT_LEAST_ONCE_PER_RETRY, None, "Custom")  # type: ignore[misc]

    def test_empty_sub_type_selects_the_default(self, make_runner):
        """sub_type="" records the default SubType "Step", as in the official SDK."""

        @durable_execution
        def handler(event, context):
            plain = context.step(lambda _: 1, name="empty", config=StepConfig(sub_type=""))
            custom = context.step(lambda _: 2, name="custom", config=StepConfig(sub_type="Own"))
            return plain + custom

        result = make_runner(handler).run()
        assert result.status == "SUCCEEDED"
        recorded = {op.name: op.sub_type for op in result.operations if op.type.value == "STEP"}
        assert recorded == {"empty": "Step", "custom": "Own"}

    def test_plain_function_strategies_are_used(self, make_runner):
        """Any callable (error, attempts_made) works as a retry strategy: the step consults it."""
        asked = []

        def strategy(error, attempts_made):
            asked.append((type(error).__name__, attempts_made))
            return (
                RetryDecision.retry(Duration(1)) if attempts_made < 3 else RetryDecision.no_retry()
            )

        def flaky(step_context):
            if step_context.attempt < 3:
                raise ConnectionError("not yet")
            return step_context.attempt

        @durable_execution
        def handler(event, context):
            return context.step(flaky, name="s", config=StepConfig(retry_strategy=strategy))

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", 3)
        assert asked == [("ConnectionError", 1), ("ConnectionError", 2)]

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"retry_strategy": 3}, "retry_strategy"),
            ({"step_semantics": "AT_MOST_ONCE_PER_RETRY"}, "step_semantics"),
            ({"sub_type": "bad type"}, "sub_type"),
        ],
    )
    def test_bad_values_are_rejected(self, kwargs, match):
        """Invalid settings raise ValidationError naming the setting."""
        with pytest.raises(ValidationError, match=match):
            StepConfig(**kwargs)

    def test_is_frozen(self):
        """A StepConfig cannot be changed after construction."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            StepConfig().serdes = JsonSerDes()  # type: ignore[misc]


class TestChildConfig:
    def test_defaults_match_the_official_sdk(self):
        """ChildConfig(serdes=None, sub_type=None, summary_generator=None, is_virtual=False)."""
        assert dataclasses.astuple(ChildConfig())[:4] == (None, None, None, False)
        assert ChildConfig().result_type is None

    def test_bad_sub_type_is_rejected(self):
        """A bad sub_type raises ValidationError."""
        with pytest.raises(ValidationError, match="sub_type"):
            ChildConfig(sub_type="no spaces")


class TestCallbackConfig:
    def test_defaults_are_no_timeouts(self):
        """Both timeouts default to zero (none), sent as 0."""
        config = CallbackConfig()
        assert (config.timeout, config.heartbeat_timeout, config.serdes) == (
            Duration(0),
            Duration(0),
            None,
        )

    @pytest.mark.parametrize(
        ("heartbeat", "options", "timed_out_after"),
        [
            (None, {"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 0}, 300),
            (
                datetime.timedelta(seconds=90),
                {"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 90},
                90,
            ),
        ],
    )
    def test_timedeltas_are_sent_as_seconds_and_time_the_callback_out(
        self, make_runner, heartbeat, options, timed_out_after
    ):
        """Timedelta timeouts reach the service in seconds; an unanswered callback times out so."""
        sent = []
        timeouts = {"timeout": datetime.timedelta(minutes=5)}
        if heartbeat is not None:
            timeouts["heartbeat_timeout"] = heartbeat

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(name="cb", config=CallbackConfig(**timeouts))
            return callback.result()

        runner = make_runner(handler)
        checkpoint = runner.service.checkpoint_durable_execution

        def recording(**kwargs):
            sent.extend(kwargs["Updates"])
            return checkpoint(**kwargs)

        runner.service.checkpoint_durable_execution = recording
        result = runner.run()
        (start,) = [u for u in sent if u["Type"] == "CALLBACK"]
        assert start["CallbackOptions"] == options
        (callback,) = [op for op in result.operations if op.name == "cb"]
        assert callback.status.value == "TIMED_OUT"
        assert callback.end_timestamp - callback.start_timestamp == pytest.approx(timed_out_after)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"timeout": Duration(MAX_CALLBACK_TIMEOUT + 1)}, "timeout"),
            ({"heartbeat_timeout": Duration(MAX_CALLBACK_TIMEOUT + 1)}, "heartbeat_timeout"),
            ({"timeout": 30}, "timeout"),
            ({"heartbeat_timeout": datetime.timedelta(seconds=-1)}, "negative"),
            ({"sub_type": "bad type"}, "sub_type"),
        ],
    )
    def test_bad_values_are_rejected(self, kwargs, match):
        """Timeouts beyond the API limit, of the wrong type or negative raise ValidationError."""
        with pytest.raises(ValidationError, match=match):
            CallbackConfig(**kwargs)

    def test_largest_timeout_is_accepted_and_sent(self, make_runner):
        """The API's largest timeout is accepted, and the service is asked for exactly it."""
        sent = []

        @durable_execution
        def handler(event, context):
            context.create_callback(
                name="cb", config=CallbackConfig(timeout=Duration(MAX_CALLBACK_TIMEOUT))
            )
            return None

        runner = make_runner(handler)
        checkpoint = runner.service.checkpoint_durable_execution

        def recording(**kwargs):
            sent.extend(kwargs["Updates"])
            return checkpoint(**kwargs)

        runner.service.checkpoint_durable_execution = recording
        runner.run()
        (start,) = [u for u in sent if u["Type"] == "CALLBACK"]
        assert start["CallbackOptions"]["TimeoutSeconds"] == MAX_CALLBACK_TIMEOUT

    @pytest.mark.skipif(
        importlib.util.find_spec("aws_durable_execution_sdk_python") is None,
        reason="needs the official SDK (the test extra)",
    )
    @pytest.mark.parametrize("name", ["CallbackConfig", "WaitForCallbackConfig"])
    def test_positional_order_is_the_official_one(self, name):
        """Positional arguments land where the official SDK puts them."""
        official = importlib.import_module("aws_durable_execution_sdk_python.config")
        ours = [f.name for f in dataclasses.fields(getattr(durable_exec, name)) if not f.kw_only]
        theirs = [f.name for f in dataclasses.fields(getattr(official, name)) if not f.kw_only]
        assert ours == theirs
        assert issubclass(WaitForCallbackConfig, CallbackConfig)


class TestInvokeConfig:
    @pytest.mark.parametrize("tenant_id", [None, "t", "x" * 256])
    def test_valid_tenant_ids(self, tenant_id):
        """A tenant id of 1-256 characters (or none) is accepted."""
        assert InvokeConfig(tenant_id=tenant_id).tenant_id == tenant_id

    @pytest.mark.parametrize("tenant_id", ["", "x" * 257, 5])
    def test_invalid_tenant_ids(self, tenant_id):
        """Empty, too long or non-string tenant ids raise ValidationError."""
        with pytest.raises(ValidationError, match="tenant_id"):
            InvokeConfig(tenant_id=tenant_id)


class TestCompletionConfig:
    @pytest.mark.parametrize(
        ("config", "expected"),
        [
            (CompletionConfig.first_successful(), (1, None, None)),
            (CompletionConfig.all_completed(), (None, None, 100)),
            (CompletionConfig.all_successful(), (None, 0, 0)),
            (CompletionConfig(), (None, None, None)),
        ],
    )
    def test_presets_match_the_official_sdk(self, config, expected):
        """Presets set the official thresholds (min_successful, count, percentage)."""
        assert (
            config.min_successful,
            config.tolerated_failure_count,
            config.tolerated_failure_percentage,
        ) == expected

    @pytest.mark.parametrize(
        ("config", "has_criteria"),
        [
            (CompletionConfig(), False),
            (CompletionConfig(min_successful=1), True),
            (CompletionConfig(tolerated_failure_count=0), True),
            (CompletionConfig(tolerated_failure_percentage=0), True),
            (CompletionConfig(should_complete=never_complete), True),
        ],
    )
    def test_has_criteria(self, config, has_criteria):
        """Any threshold or predicate counts as a criterion; none means fail-fast."""
        assert config.has_criteria is has_criteria

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"min_successful": 0}, "min_successful"),
            ({"min_successful": True}, "min_successful"),
            ({"tolerated_failure_count": -1}, "tolerated_failure_count"),
            ({"tolerated_failure_count": 1.5}, "tolerated_failure_count"),
            ({"tolerated_failure_percentage": 100.5}, "between 0 and 100"),
            ({"tolerated_failure_percentage": -1}, "between 0 and 100"),
            ({"tolerated_failure_percentage": math.nan}, "between 0 and 100"),
            ({"tolerated_failure_percentage": True}, "between 0 and 100"),
            ({"should_complete": "yes"}, "should_complete must be callable"),
            (
                {"should_complete": never_complete, "min_successful": 1},
                "should_complete cannot be combined",
            ),
            (
                {"should_complete": never_complete, "tolerated_failure_percentage": 0},
                "should_complete cannot be combined",
            ),
        ],
    )
    def test_bad_values_are_rejected(self, kwargs, match):
        """Invalid thresholds and predicate combinations raise ValidationError."""
        with pytest.raises(ValidationError, match=match):
            CompletionConfig(**kwargs)

    @pytest.mark.parametrize("percentage", [0, 40, 100, 12.5])
    def test_percentages_in_range_are_accepted(self, percentage):
        """Percentages from 0 to 100, whole or not, are accepted."""
        config = CompletionConfig(tolerated_failure_percentage=percentage)
        assert config.tolerated_failure_percentage == percentage


class TestCompletionDecision:
    def test_continue_batch(self):
        """continue_batch() keeps the batch running, with no outcome."""
        assert continue_batch() == CompletionDecision(complete=False, outcome=None)

    @pytest.mark.parametrize(
        ("args", "outcome"),
        [
            ((), CompletionOutcome.SUCCEEDED),
            ((CompletionOutcome.FAILED,), CompletionOutcome.FAILED),
        ],
    )
    def test_complete_batch(self, args, outcome):
        """complete_batch() completes with SUCCEEDED by default, or the given outcome."""
        assert complete_batch(*args) == CompletionDecision(complete=True, outcome=outcome)

    def test_complete_requires_an_outcome(self):
        """complete=True without an outcome raises the official message."""
        with pytest.raises(ValidationError, match="outcome is required when complete is True"):
            CompletionDecision(complete=True)

    def test_continue_forbids_an_outcome(self):
        """complete=False with an outcome raises the official message."""
        with pytest.raises(ValidationError, match="outcome must be None when complete is False"):
            CompletionDecision(complete=False, outcome=CompletionOutcome.FAILED)

    def test_status_views_hold_their_fields(self):
        """CompletionStatus and CompletionItemStatus keep the official field order."""
        item = CompletionItemStatus(0, "first", BatchItemStatus.STARTED)
        status = CompletionStatus(1, 0, 1, 2, (item,))
        assert dataclasses.astuple(item) == (0, "first", BatchItemStatus.STARTED)
        assert (status.success_count, status.total_count, status.items) == (1, 2, (item,))


class TestMapAndParallelConfig:
    def test_map_defaults_match_the_official_sdk(self):
        """MapConfig() is unbounded, fail-fast, NESTED, with no serdes or namer."""
        config: MapConfig[Any] = MapConfig()
        assert (
            config.max_concurrency,
            config.completion_config,
            config.serdes,
            config.item_serdes,
            config.summary_generator,
            config.nesting_type,
            config.item_namer,
        ) == (None, CompletionConfig(), None, None, None, NestingType.NESTED, None)

    def test_parallel_defaults_to_all_successful(self):
        """ParallelConfig() requires every branch to succeed."""
        config = ParallelConfig()
        assert config.completion_config == CompletionConfig.all_successful()
        assert config.nesting_type is NestingType.NESTED

    @pytest.mark.parametrize("config_cls", [MapConfig, ParallelConfig])
    @pytest.mark.parametrize("value", [0, -1, True, 1.5])
    def test_bad_max_concurrency(self, config_cls, value):
        """max_concurrency must be an int of at least 1."""
        with pytest.raises(ValidationError, match="max_concurrency"):
            config_cls(max_concurrency=value)

    def test_parallel_branch_calls_its_function(self):
        """A ParallelBranch is callable and delegates to its function."""
        branch = ParallelBranch(lambda context: ("ran", context), name="b")
        assert branch("ctx") == ("ran", "ctx")
        assert branch.name == "b"


class TestEnums:
    @pytest.mark.parametrize(
        ("enum_cls", "values"),
        [
            (StepSemantics, ["AT_MOST_ONCE_PER_RETRY", "AT_LEAST_ONCE_PER_RETRY"]),
            (NestingType, ["NESTED", "FLAT"]),
            (BatchItemStatus, ["SUCCEEDED", "FAILED", "STARTED"]),
            (CompletionOutcome, ["SUCCEEDED", "FAILED"]),
        ],
    )
    def test_values_match_the_official_sdk(self, enum_cls, values):
        """Enum members and values are the official SDK's (member = value)."""
        assert [m.value for m in enum_cls] == values
        assert [m.name for m in enum_cls] == values

    def test_validation_error_is_a_value_error(self):
        """ValidationError is also a ValueError, so generic handlers catch it."""
        assert issubclass(ValidationError, ValueError)
