"""wait_for_condition's wait strategies and configuration."""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import (
    Duration,
    JitterStrategy,
    JsonSerDes,
    ValidationError,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitForConditionError,
    WaitStrategyConfig,
    create_wait_strategy,
)


def keep_polling(state):
    """A should_continue_polling that never sees the condition met."""
    return True


def wait_delays(strategy, attempts):
    """Return the delay after each of the first ``attempts`` checks."""
    return [strategy(None, n).delay_seconds for n in range(1, attempts + 1)]


class TestWaitForConditionDecision:
    def test_continue_waiting_carries_the_delay(self):
        """continue_waiting(d) checks again after d."""
        decision = WaitForConditionDecision.continue_waiting(Duration(4))
        assert (decision.should_continue, decision.delay_seconds) == (True, 4)

    def test_continue_waiting_accepts_a_timedelta_rounded_up(self):
        """A timedelta delay is rounded up to whole seconds."""
        decision = WaitForConditionDecision.continue_waiting(datetime.timedelta(seconds=2.2))
        assert decision.delay_seconds == 3

    def test_stop_polling_has_zero_delay(self):
        """stop_polling() ends polling with a zero delay."""
        decision = WaitForConditionDecision.stop_polling()
        assert (decision.should_continue, decision.delay) == (False, Duration(0))

    def test_is_frozen(self):
        """A decision cannot be changed after it is made."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            WaitForConditionDecision.stop_polling().should_continue = True  # type: ignore[misc]

    def test_continue_waiting_rejects_a_plain_number(self):
        """A bare number is not a delay."""
        with pytest.raises(ValidationError, match="delay"):
            WaitForConditionDecision.continue_waiting(3)  # type: ignore[arg-type]


class TestCreateWaitStrategy:
    def test_default_delays_match_the_official_sdk(self):
        """Defaults without jitter give 5, 8, 12, ... capped at 300 s (official spec section 6)."""
        strategy = create_wait_strategy(
            WaitStrategyConfig(keep_polling, jitter_strategy=JitterStrategy.NONE)
        )
        assert wait_delays(strategy, 15) == [
            5, 8, 12, 17, 26, 38, 57, 86, 129, 193, 289, 300, 300, 300, 300,
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("initial", "cap", "rate", "expected"),
        [
            (2, 40, 2.5, [2, 5, 13, 32, 40, 40, 40, 40, 40]),
            (1, 10, 1.0, [1, 1, 1, 1, 1, 1, 1, 1, 1]),
            (3, 3, 4.0, [3, 3, 3, 3, 3, 3, 3, 3, 3]),
        ],
    )
    def test_custom_delays_match_the_official_sdk(self, initial, cap, rate, expected):
        """Custom settings give the official SDK's delays (generated with the official SDK)."""
        config = WaitStrategyConfig(
            keep_polling,
            max_attempts=30,
            initial_delay=Duration(initial),
            max_delay=Duration(cap),
            backoff_rate=rate,
            jitter_strategy=JitterStrategy.NONE,
        )
        assert wait_delays(create_wait_strategy(config), 9) == expected

    def test_the_strategy_sees_the_state(self):
        """should_continue_polling is asked about the state the check returned."""
        config: WaitStrategyConfig[dict[str, int]] = WaitStrategyConfig(lambda s: s["n"] < 3)
        strategy = create_wait_strategy(config)
        assert strategy({"n": 1}, 1).should_continue
        assert not strategy({"n": 3}, 2).should_continue

    def test_condition_met_wins_on_the_last_attempt(self):
        """A state that meets the condition stops polling even when attempts ran out."""
        config: WaitStrategyConfig[None] = WaitStrategyConfig(lambda s: False, max_attempts=2)
        strategy = create_wait_strategy(config)
        assert strategy(None, 2) == WaitForConditionDecision.stop_polling()
        assert strategy(None, 99) == WaitForConditionDecision.stop_polling()

    def test_exhaustion_raises_saying_how_many_checks_ran(self):
        """Running out of attempts raises WaitForConditionError naming max_attempts."""
        strategy = create_wait_strategy(WaitStrategyConfig(keep_polling, max_attempts=2))
        strategy(None, 1)
        with pytest.raises(WaitForConditionError) as caught:
            strategy(None, 2)
        assert caught.value.message == (
            "wait_for_condition gave up after max_attempts=2 checks: should_continue_polling "
            "still returned True; raise max_attempts or check the polled state"
        )
        assert caught.value.error_type == (
            "aws_durable_execution_sdk_python.exceptions.WaitForConditionError"
        )

    def test_huge_backoff_stays_at_the_cap(self):
        """A power too large for a float gives the cap instead of OverflowError."""
        config = WaitStrategyConfig(
            keep_polling, backoff_rate=1e6, jitter_strategy=JitterStrategy.NONE
        )
        assert create_wait_strategy(config)(None, 59).delay_seconds == 300

    def test_seeded_strategies_agree(self):
        """Equally seeded generators give equal jittered delays."""
        config = WaitStrategyConfig(keep_polling)
        first = create_wait_strategy(config, random.Random(5))
        second = create_wait_strategy(config, random.Random(5))
        assert wait_delays(first, 20) == wait_delays(second, 20)


class TestWaitStrategyConfig:
    def test_defaults_match_the_official_sdk(self):
        """Defaults: 60 attempts, 5 s growing 1.5x to 5 min, full jitter."""
        config = WaitStrategyConfig(keep_polling)
        assert (
            config.max_attempts,
            config.initial_delay_seconds,
            config.max_delay_seconds,
            config.backoff_rate,
            config.jitter_strategy,
        ) == (60, 5, 300, 1.5, JitterStrategy.FULL)

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"should_continue_polling": "yes"}, "should_continue_polling"),
            ({"max_attempts": 0}, "max_attempts"),
            ({"max_attempts": True}, "max_attempts"),
            ({"max_attempts": 1.5}, "max_attempts"),
            ({"initial_delay": Duration(0)}, "initial_delay"),
            ({"initial_delay": 5}, "initial_delay"),
            ({"max_delay": Duration(0)}, "max_delay"),
            ({"backoff_rate": 0.9}, "backoff_rate"),
            ({"backoff_rate": math.nan}, "backoff_rate"),
            ({"backoff_rate": math.inf}, "backoff_rate"),
        ],
    )
    def test_bad_settings_are_rejected(self, kwargs, match):
        """Invalid settings raise ValidationError naming the setting."""
        kwargs = {"should_continue_polling": keep_polling, **kwargs}
        with pytest.raises(ValidationError, match=match):
            WaitStrategyConfig(**kwargs)

    def test_timedelta_settings_are_accepted(self):
        """Delays may be timedeltas, rounded up to whole seconds."""
        config = WaitStrategyConfig(
            keep_polling,
            initial_delay=datetime.timedelta(milliseconds=1500),
            max_delay=datetime.timedelta(minutes=2),
        )
        assert (config.initial_delay_seconds, config.max_delay_seconds) == (2, 120)


class TestWaitForConditionConfig:
    def test_positional_order_matches_the_official_sdk(self):
        """WaitForConditionConfig(wait_strategy, initial_state, serdes)."""
        strategy = create_wait_strategy(WaitStrategyConfig(keep_polling))
        serdes = JsonSerDes()
        config = WaitForConditionConfig(strategy, {"n": 0}, serdes)
        assert (config.wait_strategy, config.initial_state, config.serdes) == (
            strategy,
            {"n": 0},
            serdes,
        )

    def test_serdes_defaults_to_none(self):
        """Without a serdes the extended-type serdes is used (None here)."""
        assert (
            WaitForConditionConfig(lambda s, n: WaitForConditionDecision.stop_polling(), 0).serdes
            is None
        )

    def test_wait_strategy_must_be_callable(self):
        """A non-callable wait strategy raises ValidationError."""
        with pytest.raises(ValidationError, match="wait_strategy"):
            WaitForConditionConfig("not callable", 0)  # type: ignore[arg-type]

    def test_is_frozen(self):
        """The config cannot be changed after construction."""
        config = WaitForConditionConfig(lambda s, n: WaitForConditionDecision.stop_polling(), 0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            config.initial_state = 1  # type: ignore[misc]

    def test_check_context_holds_logger_and_attempt(self):
        """WaitForConditionCheckContext(logger, attempt) exposes both."""
        logger = logging.getLogger("check")
        context = WaitForConditionCheckContext(logger, 3)
        assert (context.logger, context.attempt) == (logger, 3)


wait_configs = st.builds(
    WaitStrategyConfig,
    should_continue_polling=st.just(keep_polling),
    max_attempts=st.integers(min_value=2, max_value=2000),
    initial_delay=st.integers(min_value=1, max_value=10_000).map(Duration),
    max_delay=st.integers(min_value=1, max_value=100_000).map(Duration),
    backoff_rate=st.floats(min_value=1.0, max_value=50.0),
    jitter_strategy=st.sampled_from(JitterStrategy),
)


class TestWaitProperties:
    @given(config=wait_configs, data=st.data(), seed=st.integers())
    def test_delay_is_between_one_second_and_the_cap(self, config, data, seed):
        """Whatever the jitter, the next check waits between 1 s and max_delay."""
        attempt = data.draw(st.integers(min_value=1, max_value=config.max_attempts - 1))
        decision = create_wait_strategy(config, random.Random(seed))(None, attempt)
        assert decision.should_continue
        assert 1 <= decision.delay_seconds <= config.max_delay_seconds

    @given(config=wait_configs)
    def test_unjittered_delays_never_decrease(self, config):
        """Without jitter, check n+1 waits at least as long as check n."""
        config = dataclasses.replace(config, jitter_strategy=JitterStrategy.NONE)
        got = wait_delays(create_wait_strategy(config), min(config.max_attempts - 1, 60))
        assert got == sorted(got)

    @given(config=wait_configs, extra=st.integers(min_value=0, max_value=5))
    def test_exhausts_exactly_at_max_attempts(self, config, extra):
        """Every check from max_attempts on raises while the condition is unmet."""
        with pytest.raises(WaitForConditionError):
            create_wait_strategy(config)(None, config.max_attempts + extra)
