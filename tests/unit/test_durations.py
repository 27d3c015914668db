"""Duration and the one rounding rule: whole seconds, rounded up, never below what was asked."""

from __future__ import annotations

import dataclasses
import datetime
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import Duration, ValidationError
from durable_exec._durations import MAX_WAIT_SECONDS, delay_seconds, to_seconds

UNITS = [
    (Duration.from_seconds, 1),
    (Duration.from_minutes, 60),
    (Duration.from_hours, 3600),
    (Duration.from_days, 86400),
]

finite_amounts = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


class TestDuration:
    def test_default_is_zero(self):
        """Duration() is zero seconds, as in the official SDK."""
        assert Duration().to_seconds() == 0

    def test_seconds_keyword_matches_official_signature(self):
        """Duration(seconds=n) holds n whole seconds."""
        assert Duration(seconds=42).seconds == 42

    @pytest.mark.parametrize("seconds", [-1, -3600])
    def test_negative_seconds_are_rejected(self, seconds):
        """A negative duration raises ValidationError naming the value."""
        with pytest.raises(ValidationError, match=str(seconds)):
            Duration(seconds)

    @pytest.mark.parametrize("seconds", [1.5, "5", True, None])
    def test_non_int_seconds_are_rejected(self, seconds):
        """Only a real int is accepted; fractions must go through from_seconds."""
        with pytest.raises(ValidationError, match="from_seconds"):
            Duration(seconds)

    def test_is_frozen(self):
        """A Duration cannot be changed after construction."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            Duration(1).seconds = 2  # type: ignore[misc]

    def test_equal_durations_are_equal_and_hash_alike(self):
        """Durations compare and hash by their seconds."""
        assert Duration(60) == Duration.from_minutes(1)
        assert hash(Duration(60)) == hash(Duration.from_minutes(1))
        assert Duration(60) != Duration(61)

    def test_addition_sums_seconds(self):
        """Adding two durations adds their seconds."""
        assert Duration(2) + Duration(3) == Duration(5)

    def test_addition_with_other_types_is_unsupported(self):
        """Adding a number to a Duration is a TypeError, not a silent conversion."""
        with pytest.raises(TypeError):
            Duration(2) + 3  # type: ignore[operator]

    def test_to_timedelta(self):
        """to_timedelta gives the same number of seconds as a timedelta."""
        assert Duration(90).to_timedelta() == datetime.timedelta(minutes=1, seconds=30)

    def test_max_wait_is_366_days(self):
        """The API's longest wait is 366 days."""
        assert MAX_WAIT_SECONDS == 366 * 86400


class TestConstructors:
    @pytest.mark.parametrize(
        ("make", "value", "expected"),
        [
            (Duration.from_seconds, 0, 0),
            (Duration.from_seconds, 5, 5),
            (Duration.from_seconds, 2.9, 3),  # the official SDK truncates to 2
            (Duration.from_seconds, 2.0, 2),
            (Duration.from_seconds, 1e-9, 1),
            (Duration.from_minutes, 1.5, 90),
            (Duration.from_minutes, 0.1, 6),  # 0.1 * 60 is 6.000000000000001 in floats
            (Duration.from_minutes, 2, 120),
            (Duration.from_hours, 0.07, 252),  # 0.07 * 3600 is 252.00000000000003 in floats
            (Duration.from_hours, 0.55, 1980),
            (Duration.from_hours, 1 / 3, 1200),
            (Duration.from_days, 0.5, 43200),
            (Duration.from_days, 0.17, 14688),
            (Duration.from_days, 2, 172800),
        ],
    )
    def test_converts_to_whole_seconds_rounding_up(self, make, value, expected):
        """Each constructor scales to seconds and rounds up, ignoring binary float noise."""
        assert make(value).to_seconds() == expected

    @pytest.mark.parametrize(
        ("delta", "expected"),
        [
            (datetime.timedelta(0), 0),
            (datetime.timedelta(microseconds=1), 1),
            (datetime.timedelta(milliseconds=1500), 2),
            (datetime.timedelta(minutes=2), 120),
            (datetime.timedelta(hours=0.07), 252),
            (datetime.timedelta(days=1, seconds=1), 86401),
        ],
    )
    def test_from_timedelta_rounds_up(self, delta, expected):
        """A timedelta becomes whole seconds, rounded up."""
        assert Duration.from_timedelta(delta).to_seconds() == expected

    @pytest.mark.parametrize(("make", "unit"), UNITS)
    @pytest.mark.parametrize("value", [-1, -0.5, math.nan, math.inf, -math.inf])
    def test_negative_and_non_finite_values_are_rejected(self, make, unit, value):
        """Negative, NaN and infinite amounts raise ValidationError."""
        with pytest.raises(ValidationError):
            make(value)

    def test_negative_timedelta_is_rejected(self):
        """A negative timedelta raises ValidationError."""
        with pytest.raises(ValidationError, match="negative"):
            Duration.from_timedelta(datetime.timedelta(seconds=-1))

    @given(value=finite_amounts)
    def test_from_seconds_never_waits_less_than_asked(self, value):
        """from_seconds(x) is the smallest whole number of seconds not below x."""
        seconds = Duration.from_seconds(value).to_seconds()
        assert seconds >= value
        assert seconds - 1 < value

    @given(value=finite_amounts)
    @pytest.mark.parametrize(("make", "unit"), UNITS)
    def test_scaled_constructors_never_wait_less_than_written(self, make, unit, value):
        """from_<unit>(x) is never less than x units as written, and less than one second more."""
        written = Decimal(repr(value)) * unit
        seconds = make(value).to_seconds()
        assert seconds >= written
        assert seconds - 1 < written

    @given(value=st.integers(min_value=0, max_value=10**9))
    @pytest.mark.parametrize(("make", "unit"), UNITS)
    def test_whole_amounts_are_exact(self, make, unit, value):
        """Whole amounts convert exactly."""
        assert make(value).to_seconds() == value * unit

    @given(delta=st.timedeltas(min_value=datetime.timedelta(0)))
    def test_from_timedelta_never_waits_less(self, delta):
        """from_timedelta is at least the timedelta and less than one second more."""
        duration = Duration.from_timedelta(delta)
        assert duration.to_timedelta() >= delta
        assert duration.to_timedelta() - delta < datetime.timedelta(seconds=1)


class TestToSeconds:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Duration(7), 7),
            (datetime.timedelta(seconds=7), 7),
            (datetime.timedelta(seconds=7, microseconds=1), 8),
            (datetime.timedelta(0), 0),
        ],
    )
    def test_accepts_duration_and_timedelta(self, value, expected):
        """to_seconds reads a Duration as is and rounds a timedelta up."""
        assert to_seconds(value) == expected

    @pytest.mark.parametrize("value", [7, 7.0, "7s", None])
    def test_other_types_are_rejected_naming_the_parameter(self, value):
        """Anything else raises ValidationError naming the parameter and the type."""
        with pytest.raises(ValidationError, match=r"timeout must be a Duration.*got"):
            to_seconds(value, what="timeout")  # type: ignore[arg-type]

    def test_negative_timedelta_is_rejected(self):
        """A negative timedelta raises ValidationError."""
        with pytest.raises(ValidationError):
            to_seconds(datetime.timedelta(seconds=-5))


class TestDelaySeconds:
    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [(0, 1), (-3.5, 1), (0.2, 1), (1, 1), (1.01, 2), (59.5, 60), (1e12, MAX_WAIT_SECONDS)],
    )
    def test_rounds_up_between_one_second_and_the_maximum(self, seconds, expected):
        """A retry or polling delay is whole seconds, rounded up, from 1 s to 366 days."""
        assert delay_seconds(seconds) == expected

    @given(st.floats(min_value=0, max_value=MAX_WAIT_SECONDS, allow_nan=False))
    def test_never_shorter_than_asked(self, seconds):
        """Rounding never makes a delay shorter than what the strategy asked for."""
        assert delay_seconds(seconds) >= seconds

    def test_infinity_is_the_maximum_and_nan_is_refused(self):
        """An unbounded delay is capped; NaN is no delay at all."""
        assert delay_seconds(math.inf) == MAX_WAIT_SECONDS
        with pytest.raises(ValidationError, match="NaN"):
            delay_seconds(math.nan)
