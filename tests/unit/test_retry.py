"""Durable retry strategies: presets, back-off, jitter, error filters, and tenacity policies."""

from __future__ import annotations

import dataclasses
import datetime
import math
import random
import re

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st
from tenacity import (
    retry_if_exception_message,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_before_delay,
    wait_exponential,
    wait_fixed,
    wait_random,
)

from durable_exec import (
    Duration,
    ExponentialRetryStrategy,
    JitterStrategy,
    LinearRetryStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPolicy,
    RetryPresets,
    RetryStrategyConfig,
    ValidationError,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable_exec._retry import RetryAttempt

ERROR = RuntimeError("boom")


def delays(strategy, attempts=12, error=ERROR):
    """Return the delay in seconds after each failed attempt, None once it stops retrying."""
    out = []
    for attempts_made in range(1, attempts + 1):
        decision = strategy(error, attempts_made)
        out.append(decision.delay_seconds if decision.should_retry else None)
    return out


def without_jitter(strategy):
    """Return the same strategy with jitter NONE, to see its base delays."""
    config = dataclasses.replace(strategy.config, jitter_strategy=JitterStrategy.NONE)
    return type(strategy)(config)


class TestJitterStrategy:
    @pytest.mark.parametrize("member", ["NONE", "FULL", "HALF"])
    def test_members_are_their_names(self, member):
        """JitterStrategy is a StrEnum whose values are the member names."""
        assert JitterStrategy(member) == member
        assert JitterStrategy[member].value == member

    @pytest.mark.parametrize("delay", [0.0, 0.4, 7.0, 300.0])
    def test_none_keeps_the_delay(self, delay):
        """NONE returns the delay unchanged."""
        assert JitterStrategy.NONE.apply(delay) == delay

    @pytest.mark.parametrize("jitter", list(JitterStrategy))
    def test_zero_stays_zero(self, jitter):
        """No jitter strategy makes a zero delay positive."""
        assert jitter.apply(0.0) == 0.0

    @given(delay=st.floats(min_value=0, max_value=1e6), seed=st.integers())
    def test_full_draws_within_zero_and_delay(self, delay, seed):
        """FULL picks a delay in [0, d]."""
        assert 0 <= JitterStrategy.FULL.apply(delay, random.Random(seed)) <= delay

    @given(delay=st.floats(min_value=0, max_value=1e6), seed=st.integers())
    def test_half_draws_within_half_and_delay(self, delay, seed):
        """HALF picks a delay in [d/2, d]."""
        assert delay / 2 <= JitterStrategy.HALF.apply(delay, random.Random(seed)) <= delay

    @pytest.mark.parametrize("jitter", [JitterStrategy.FULL, JitterStrategy.HALF])
    def test_seeded_rng_is_reproducible(self, jitter):
        """The same seed gives the same jittered delays."""

        def draws():
            rng = random.Random(3)
            return [jitter.apply(100.0, rng) for _ in range(5)]

        assert draws() == draws()

    @pytest.mark.parametrize(
        ("base", "expected"), [(0.2, 1), (2.0001, 3), (0, 1), (3, 3), (5.5, 6)]
    )
    def test_finalize_delay_rounds_up_to_at_least_one(self, base, expected):
        """finalize_delay (official name) rounds up with a floor of 1 s, as the official SDK."""
        assert JitterStrategy.NONE.finalize_delay(base) == expected

    def test_apply_jitter_is_apply(self):
        """apply_jitter (official name) jitters exactly as apply does."""
        assert JitterStrategy.HALF.apply_jitter(10.0, random.Random(1)) == (
            JitterStrategy.HALF.apply(10.0, random.Random(1))
        )


class TestRetryDecision:
    def test_retry_carries_the_delay(self):
        """RetryDecision.retry(d) retries after d."""
        decision = RetryDecision.retry(Duration(3))
        assert (decision.should_retry, decision.delay, decision.delay_seconds) == (
            True,
            Duration(3),
            3,
        )

    def test_retry_accepts_a_timedelta_rounded_up(self):
        """A timedelta delay is rounded up to whole seconds."""
        assert RetryDecision.retry(datetime.timedelta(seconds=1.2)).delay_seconds == 2

    def test_no_retry_has_zero_delay(self):
        """RetryDecision.no_retry() gives up with a zero delay."""
        decision = RetryDecision.no_retry()
        assert (decision.should_retry, decision.delay_seconds) == (False, 0)

    def test_retry_rejects_a_plain_number(self):
        """A bare number is not a delay: ValidationError names the parameter."""
        with pytest.raises(ValidationError, match="retry delay"):
            RetryDecision.retry(5)  # type: ignore[arg-type]


class TestPresets:
    @pytest.mark.parametrize(
        ("make", "expected"),
        [
            (RetryPresets.none, [None] * 12),
            (RetryPresets.critical, [1, 2, 3, 4, 6, 8, 12, 18, 26, None, None, None]),
            (RetryPresets.linear, [1, 2, 3, 4, 5] + [None] * 7),
            (RetryPresets.fixed, [5, 5, 5, 5] + [None] * 8),
            (lambda: RetryPresets.fixed(None), [5, 5, 5, 5] + [None] * 8),
            (lambda: RetryPresets.fixed(Duration(7)), [7, 7, 7, 7] + [None] * 8),
            (
                lambda: RetryPresets.fixed(datetime.timedelta(seconds=2)),
                [2, 2, 2, 2] + [None] * 8,
            ),
            (
                lambda: without_jitter(create_retry_strategy()),
                [5, 10] + [None] * 10,
            ),
        ],
        ids=["none", "critical", "linear", "fixed", "fixed-None", "fixed-7", "fixed-td", "cfg"],
    )
    def test_unjittered_delays_match_the_official_sdk(self, make, expected):
        """Presets without jitter give the official SDK's delay sequences (probe p23)."""
        assert delays(make()) == expected

    @pytest.mark.parametrize(
        ("make", "jitter", "bases"),
        [
            (RetryPresets.default, JitterStrategy.FULL, [5, 10, 20, 40, 60]),
            (RetryPresets.transient, JitterStrategy.HALF, [5, 10]),
            (RetryPresets.resource_availability, JitterStrategy.FULL, [5, 10, 20, 40]),
        ],
        ids=["default", "transient", "resource_availability"],
    )
    def test_jittered_presets_have_the_official_bases(self, make, jitter, bases):
        """Jittered presets use the official jitter and base delays, then stop."""
        strategy = make()
        assert strategy.config.jitter_strategy is jitter
        assert delays(without_jitter(strategy)) == bases + [None] * (12 - len(bases))

    @pytest.mark.parametrize("seed", range(20))
    def test_default_preset_stays_within_its_bases(self, seed):
        """The default preset's jittered delays lie in [1, base] and stop after 6 attempts."""
        strategy = ExponentialRetryStrategy(RetryPresets.default().config, random.Random(seed))
        got = delays(strategy, attempts=7)
        assert got[5:] == [None, None]
        assert all(1 <= d <= base for d, base in zip(got[:5], [5, 10, 20, 40, 60], strict=True))

    def test_presets_are_the_public_strategy_classes(self):
        """Presets return inspectable strategy objects, not anonymous closures."""
        assert isinstance(RetryPresets.default(), ExponentialRetryStrategy)
        assert isinstance(RetryPresets.linear(), LinearRetryStrategy)


class TestExponentialRetryStrategy:
    def test_backoff_is_capped(self):
        """Delays grow by backoff_rate, rounded up, until max_delay (matches the official SDK)."""
        config = RetryStrategyConfig(
            max_attempts=20,
            initial_delay=Duration(3),
            max_delay=Duration(100),
            backoff_rate=1.7,
            jitter_strategy=JitterStrategy.NONE,
        )
        expected = [3, 6, 9, 15, 26, 43, 73] + [100] * 12 + [None]
        assert delays(create_retry_strategy(config), attempts=20) == expected

    @pytest.mark.parametrize(
        ("max_attempts", "attempts_made", "retries"),
        [(1, 1, False), (3, 1, True), (3, 2, True), (3, 3, False), (3, 4, False)],
    )
    def test_max_attempts_counts_every_attempt(self, max_attempts, attempts_made, retries):
        """max_attempts includes the first attempt: 3 means two retries."""
        strategy = create_retry_strategy(RetryStrategyConfig(max_attempts=max_attempts))
        assert strategy(ERROR, attempts_made).should_retry is retries

    @pytest.mark.parametrize(
        ("errors", "types", "error", "retries"),
        [
            (None, None, ValueError("anything"), True),
            (["timeout"], None, RuntimeError("read timeout"), True),
            (["timeout"], None, RuntimeError("refused"), False),
            ([re.compile(r"^5\d\d$")], None, RuntimeError("503"), True),
            ([re.compile(r"^5\d\d$")], None, RuntimeError("403"), False),
            (None, [ConnectionError], ConnectionResetError("x"), True),
            (None, [ConnectionError], ValueError("x"), False),
            (["flaky"], [KeyError], KeyError("k"), True),
            (["flaky"], [KeyError], ValueError("flaky disk"), True),
            (["flaky"], [KeyError], ValueError("broken"), False),
            ([], None, ValueError("anything"), False),
            (None, [], ValueError("anything"), False),
        ],
    )
    def test_error_filters(self, errors, types, error, retries):
        """Messages (substring or regex) OR types select retryable errors; both None retries all."""
        config = RetryStrategyConfig(retryable_errors=errors, retryable_error_types=types)
        assert create_retry_strategy(config)(error, 1).should_retry is retries

    def test_seeded_strategies_agree(self):
        """Two strategies with equally seeded generators give the same jittered delays."""
        config = RetryStrategyConfig(max_attempts=10)
        first = ExponentialRetryStrategy(config, random.Random(11))
        second = ExponentialRetryStrategy(config, random.Random(11))
        assert delays(first) == delays(second)

    def test_huge_attempt_numbers_stay_at_the_cap(self):
        """A power too large for a float gives the cap instead of OverflowError."""
        config = RetryStrategyConfig(max_attempts=10**6, jitter_strategy=JitterStrategy.NONE)
        assert create_retry_strategy(config)(ERROR, 5000).delay_seconds == 300

    def test_timedelta_settings_are_accepted(self):
        """Delays may be timedeltas; they are rounded up to whole seconds."""
        config = RetryStrategyConfig(
            initial_delay=datetime.timedelta(seconds=1.5),
            max_delay=datetime.timedelta(minutes=1),
            jitter_strategy=JitterStrategy.NONE,
        )
        assert (config.initial_delay_seconds, config.max_delay_seconds) == (2, 60)
        assert delays(create_retry_strategy(config), attempts=3) == [2, 4, None]

    def test_repr_shows_the_config(self):
        """The strategy's repr names its configuration."""
        assert "max_attempts=3" in repr(create_retry_strategy())


class TestLinearRetryStrategy:
    def test_delays_grow_by_the_increment_until_the_cap(self):
        """Linear delays add increment each attempt, capped (matches the official SDK)."""
        config = LinearRetryStrategyConfig(
            max_attempts=10,
            initial_delay=Duration(2),
            increment=Duration(3),
            max_delay=Duration(20),
            jitter_strategy=JitterStrategy.NONE,
        )
        assert config.increment_seconds == 3
        assert delays(create_linear_retry_strategy(config)) == [
            2, 5, 8, 11, 14, 17, 20, 20, 20, None, None, None,
        ]  # fmt: skip

    def test_defaults_match_the_official_sdk(self):
        """LinearRetryStrategyConfig() is 6 attempts, 1 s + 1 s, capped at 5 min, full jitter."""
        config = LinearRetryStrategyConfig()
        assert (
            config.max_attempts,
            config.initial_delay_seconds,
            config.increment_seconds,
            config.max_delay_seconds,
            config.jitter_strategy,
        ) == (6, 1, 1, 300, JitterStrategy.FULL)

    def test_error_filters_apply(self):
        """The linear strategy filters errors like the exponential one."""
        config = LinearRetryStrategyConfig(retryable_error_types=[KeyError])
        strategy = create_linear_retry_strategy(config)
        assert strategy(KeyError("k"), 1).should_retry
        assert not strategy(ValueError("v"), 1).should_retry


class TestConfigValidation:
    def test_defaults_match_the_official_sdk(self):
        """RetryStrategyConfig() is 3 attempts, 5 s doubling to 5 min, full jitter, all errors."""
        config = RetryStrategyConfig()
        assert (
            config.max_attempts,
            config.initial_delay_seconds,
            config.max_delay_seconds,
            config.backoff_rate,
            config.jitter_strategy,
            config.retryable_errors,
            config.retryable_error_types,
        ) == (3, 5, 300, 2.0, JitterStrategy.FULL, None, None)

    @pytest.mark.parametrize("config_cls", [RetryStrategyConfig, LinearRetryStrategyConfig])
    @pytest.mark.parametrize("max_attempts", [0, -1, True, 2.5, "3"])
    def test_bad_max_attempts(self, config_cls, max_attempts):
        """max_attempts must be an int of at least 1."""
        with pytest.raises(ValidationError, match="max_attempts"):
            config_cls(max_attempts=max_attempts)

    @pytest.mark.parametrize("rate", [0.5, 0, -2, math.inf, math.nan])
    def test_bad_backoff_rate(self, rate):
        """backoff_rate must be a finite number of at least 1."""
        with pytest.raises(ValidationError, match="backoff_rate"):
            RetryStrategyConfig(backoff_rate=rate)

    @pytest.mark.parametrize(
        ("config_cls", "field"),
        [
            (RetryStrategyConfig, "initial_delay"),
            (RetryStrategyConfig, "max_delay"),
            (LinearRetryStrategyConfig, "initial_delay"),
            (LinearRetryStrategyConfig, "increment"),
            (LinearRetryStrategyConfig, "max_delay"),
        ],
    )
    @pytest.mark.parametrize("value", [5, datetime.timedelta(seconds=-1)])
    def test_bad_delays(self, config_cls, field, value):
        """Delays must be a Duration or a non-negative timedelta."""
        with pytest.raises(ValidationError):
            config_cls(**{field: value})

    def test_configs_are_frozen(self):
        """A retry config cannot be changed once a strategy holds it."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            RetryStrategyConfig().max_attempts = 9  # type: ignore[misc]


retry_configs = st.builds(
    RetryStrategyConfig,
    max_attempts=st.integers(min_value=2, max_value=2000),
    initial_delay=st.integers(min_value=0, max_value=10_000).map(Duration),
    max_delay=st.integers(min_value=0, max_value=100_000).map(Duration),
    backoff_rate=st.floats(min_value=1.0, max_value=50.0),
    jitter_strategy=st.sampled_from(JitterStrategy),
)


class TestRetryProperties:
    @given(config=retry_configs, data=st.data(), seed=st.integers())
    def test_delay_is_between_one_second_and_the_cap(self, config, data, seed):
        """Whatever the jitter, a retry waits at least 1 s and at most max(1, max_delay)."""
        attempt = data.draw(st.integers(min_value=1, max_value=config.max_attempts - 1))
        strategy = ExponentialRetryStrategy(config, random.Random(seed))
        decision = strategy(ERROR, attempt)
        assert decision.should_retry
        assert 1 <= decision.delay_seconds <= max(1, config.max_delay_seconds)

    @given(config=retry_configs)
    def test_unjittered_delays_never_decrease(self, config):
        """Without jitter, attempt n+1 waits at least as long as attempt n."""
        strategy = without_jitter(create_retry_strategy(config))
        got = delays(strategy, attempts=min(config.max_attempts - 1, 60))
        assert got == sorted(got)

    @given(config=retry_configs)
    def test_unjittered_delay_is_the_ceiled_formula(self, config):
        """Without jitter, the delay is max(1, ceil(min(initial * rate**(n-1), max)))."""
        strategy = without_jitter(create_retry_strategy(config))
        n = min(config.max_attempts - 1, 30)
        base = min(
            config.initial_delay_seconds * config.backoff_rate ** (n - 1), config.max_delay_seconds
        )
        assert strategy(ERROR, n).delay_seconds == max(1, math.ceil(base))

    @given(config=retry_configs, extra=st.integers(min_value=0, max_value=10))
    def test_never_retries_past_max_attempts(self, config, extra):
        """Once max_attempts attempts have failed, the answer is always no."""
        assert not create_retry_strategy(config)(ERROR, config.max_attempts + extra).should_retry

    @given(
        max_attempts=st.integers(min_value=2, max_value=50),
        initial=st.integers(min_value=0, max_value=1000),
        increment=st.integers(min_value=0, max_value=1000),
        cap=st.integers(min_value=0, max_value=5000),
        jitter=st.sampled_from(JitterStrategy),
        seed=st.integers(),
    )
    def test_linear_delays_are_bounded(self, max_attempts, initial, increment, cap, jitter, seed):
        """Linear delays lie in [1, max(1, max_delay)] whatever the jitter."""
        config = LinearRetryStrategyConfig(
            max_attempts=max_attempts,
            initial_delay=Duration(initial),
            increment=Duration(increment),
            max_delay=Duration(cap),
            jitter_strategy=jitter,
        )
        got = delays(LinearRetryStrategy(config, random.Random(seed)), attempts=max_attempts - 1)
        assert all(1 <= d <= max(1, cap) for d in got)
        if jitter is JitterStrategy.NONE:
            assert got == sorted(got)


def attempt(number, *, started=1_000.0, failed=None, error=ERROR):
    """A RetryAttempt; failed defaults to the start time (no time elapsed)."""
    return RetryAttempt(error, number, started, started if failed is None else failed)


def real_call_state(error, number, started, failed, upcoming):
    """A genuine tenacity.RetryCallState holding the same facts as a checkpointed attempt."""
    state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = number
    state.start_time = started
    state.outcome_timestamp = failed
    state.set_exception((type(error), error, None))
    state.outcome_timestamp = failed
    state.upcoming_sleep = upcoming
    return state


TENACITY_STRATEGIES = [
    stop_after_attempt(3),
    stop_after_delay(60),
    stop_before_delay(60),
    wait_exponential(multiplier=2, max=90),
    wait_fixed(7),
    tenacity.wait_incrementing(start=1, increment=3),
    retry_if_exception_type(KeyError),
    retry_if_not_exception_type(KeyError),
    retry_if_exception_message(match="sku-[0-9]+"),
    stop_after_attempt(5) | stop_after_delay(30),
    wait_fixed(2) + wait_exponential(max=10),
]


class TestRetryPolicy:
    @given(
        strategy=st.sampled_from(TENACITY_STRATEGIES),
        error=st.sampled_from([KeyError("sku-42"), ValueError("bad sku-7"), OSError("down")]),
        number=st.integers(1, 12),
        started=st.floats(0, 1e6),
        elapsed=st.floats(0, 300),
        upcoming=st.integers(1, 90),
    )
    def test_the_adapter_reads_like_a_real_retry_call_state(
        self, strategy, error, number, started, elapsed, upcoming
    ):
        """tenacity's strategies answer the same on the adapter as on a real RetryCallState."""
        from durable_exec._retry import _call_state

        ours = _call_state(RetryAttempt(error, number, started, started + elapsed))
        ours.upcoming_sleep = float(upcoming)
        real = real_call_state(error, number, started, started + elapsed, float(upcoming))
        assert strategy(ours) == strategy(real)

    def test_defaults_are_six_attempts_five_seconds_apart(self):
        """RetryPolicy() retries any error after 5 s, for 6 attempts in all."""
        assert delays(RetryPolicy(), attempts=7) == [5, 5, 5, 5, 5, None, None]

    @pytest.mark.parametrize(("number", "retries"), [(1, True), (2, True), (3, False), (4, False)])
    def test_stop_after_attempt(self, number, retries):
        """stop_after_attempt(3) allows three attempts in all."""
        policy = RetryPolicy(stop=stop_after_attempt(3))
        assert policy.decide(attempt(number)).should_retry is retries

    @pytest.mark.parametrize(
        ("elapsed", "retries"), [(0, True), (59.9, True), (60, False), (61, False)]
    )
    def test_stop_after_delay_measures_from_the_first_attempt(self, elapsed, retries):
        """stop_after_delay counts from the step's first attempt, across invocations."""
        policy = RetryPolicy(stop=stop_after_delay(60))
        decision = policy.decide(attempt(4, started=5_000.0, failed=5_000.0 + elapsed))
        assert decision.should_retry is retries

    @pytest.mark.parametrize(("elapsed", "retries"), [(49, True), (50, False)])
    def test_stop_before_delay_counts_the_upcoming_wait(self, elapsed, retries):
        """stop_before_delay stops when the checkpointed wait would cross the limit."""
        policy = RetryPolicy(stop=stop_before_delay(60), wait=wait_fixed(10))
        decision = policy.decide(attempt(2, started=0.0, failed=float(elapsed)))
        assert decision.should_retry is retries

    def test_stop_before_delay_sees_the_rounded_wait(self):
        """The upcoming wait it sees is the whole seconds that will be checkpointed."""
        policy = RetryPolicy(stop=stop_before_delay(60), wait=wait_fixed(9.2))
        assert not policy.decide(attempt(2, started=0.0, failed=50.0)).should_retry

    def test_clock_skew_counts_as_no_time(self):
        """A failure stamped before the first start counts as zero elapsed time."""
        policy = RetryPolicy(stop=stop_after_delay(1))
        assert policy.decide(attempt(2, started=100.0, failed=50.0)).should_retry

    @pytest.mark.parametrize(
        ("number", "expected"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (7, 30)]
    )
    def test_wait_exponential(self, number, expected):
        """wait_exponential is read from the checkpointed attempt number."""
        policy = RetryPolicy(stop=stop_after_attempt(100), wait=wait_exponential(max=30))
        assert policy.decide(attempt(number)).delay_seconds == expected

    @pytest.mark.parametrize(
        ("wait", "expected"),
        [(wait_fixed(2.5), 3), (wait_fixed(0), 1), (wait_fixed(4) + wait_fixed(3), 7)],
    )
    def test_waits_are_whole_seconds_of_at_least_one(self, wait, expected):
        """A tenacity wait is rounded up to whole seconds, at least 1 s; sums work."""
        assert RetryPolicy(wait=wait).decide(attempt(1)).delay_seconds == expected

    def test_wait_random_stays_within_its_range(self):
        """wait_random's draws are checkpointed rounded up, inside [1, max]."""
        policy = RetryPolicy(stop=stop_after_attempt(100), wait=wait_random(0, 10))
        assert all(1 <= policy.decide(attempt(1)).delay_seconds <= 10 for _ in range(50))

    @pytest.mark.parametrize(
        ("error", "retries"),
        [(OSError("disk"), True), (ConnectionResetError("reset"), True), (ValueError("v"), False)],
    )
    def test_retry_if_exception_type(self, error, retries):
        """retry_if_exception_type retries only the listed exception types."""
        policy = RetryPolicy(retry=retry_if_exception_type(OSError))
        assert policy.decide(attempt(1, error=error)).should_retry is retries

    def test_retry_if_not_exception_type(self):
        """retry_if_not_exception_type retries everything but the listed types."""
        policy = RetryPolicy(retry=retry_if_not_exception_type(KeyError))
        assert policy.decide(attempt(1, error=ValueError())).should_retry
        assert not policy.decide(attempt(1, error=KeyError())).should_retry

    @pytest.mark.parametrize(
        ("error", "either", "both"),
        [
            (ValueError("flaky io"), True, True),
            (ValueError("broken"), True, False),
            (RuntimeError("flaky io"), True, False),
            (RuntimeError("broken"), False, False),
        ],
    )
    def test_retry_conditions_combine_with_or_and_and(self, error, either, both):
        """retry conditions combine with | (either) and & (both)."""
        by_type = retry_if_exception_type(ValueError)
        by_message = retry_if_exception_message(match="flaky")
        assert (
            RetryPolicy(retry=by_type | by_message).decide(attempt(1, error=error)).should_retry
            is either
        )
        assert (
            RetryPolicy(retry=by_type & by_message).decide(attempt(1, error=error)).should_retry
            is both
        )

    @pytest.mark.parametrize(
        ("number", "elapsed", "either", "both"),
        [
            (1, 0, False, False),
            (5, 0, True, False),
            (1, 100, True, False),
            (5, 100, True, True),
        ],
    )
    def test_stop_conditions_combine_with_or_and_and(self, number, elapsed, either, both):
        """stop conditions combine with | (stop when either) and & (stop when both)."""
        by_count, by_time = stop_after_attempt(5), stop_after_delay(100)
        record = attempt(number, started=0.0, failed=float(elapsed))
        assert RetryPolicy(stop=by_count | by_time).decide(record).should_retry is not either
        assert RetryPolicy(stop=by_count & by_time).decide(record).should_retry is not both

    def test_retry_filter_wins_over_stop(self):
        """An error the retry condition rejects is not retried, whatever the stop says."""
        policy = RetryPolicy(stop=stop_after_attempt(10), retry=retry_if_exception_type(KeyError))
        assert not policy.decide(attempt(1, error=ValueError())).should_retry

    def test_called_as_a_plain_strategy_elapsed_time_is_zero(self):
        """policy(error, n) works as a RetryStrategy; time-based stops see no elapsed time."""
        policy = RetryPolicy(stop=stop_after_delay(1) | stop_after_attempt(3), wait=wait_fixed(2))
        assert delays(policy, attempts=4) == [2, 2, None, None]
