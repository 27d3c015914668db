"""Per-operation configuration: frozen dataclasses checked on construction.

Field names, order and defaults follow the official SDK so existing code keeps
working; every duration also accepts a ``datetime.timedelta``. A bad value
raises :class:`~durable_exec.ValidationError` when the config is built, before
anything is checkpointed.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeAlias, TypeVar, overload

from durable_exec._durations import Duration, DurationLike, to_seconds
from durable_exec._errors import ValidationError
from durable_exec._retry import (
    LinearRetryStrategyConfig,
    RetryStrategy,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable_exec._serde import SerDes

__all__ = [
    "NAME_ATTRIBUTE",
    "RESULT_SOURCE",
    "STEP_BINDER",
    "BatchItemStatus",
    "CallbackConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "InvokeConfig",
    "MapConfig",
    "NestingType",
    "Numeric",
    "ParallelBranch",
    "ParallelConfig",
    "RetryStrategyField",
    "RetryStrategyLike",
    "StepConfig",
    "StepSemantics",
    "SummaryGenerator",
    "WaitForCallbackConfig",
    "as_retry_strategy",
    "complete_batch",
    "continue_batch",
    "validate_name",
    "validate_sub_type",
]

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
C_contra = TypeVar("C_contra", contravariant=True)

Numeric: TypeAlias = int | float
"""A number of seconds, a rate or a percentage, as the configs take them."""


class SummaryGenerator(Protocol[C_contra]):
    """Makes the text stored in place of a result over 256 KiB (``summary_generator``)."""

    def __call__(self, result: C_contra) -> str:
        """Return the summary of ``result``."""


_SUB_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
MAX_CALLBACK_TIMEOUT = 99_999_999


def validate_sub_type(sub_type: str | None) -> None:
    """Check a custom SubType: 1-32 characters from ``[A-Za-z0-9_-]``.

    ``None`` and ``""`` select the operation's default SubType.
    """
    if sub_type is None or sub_type == "":
        return
    if not isinstance(sub_type, str) or not 1 <= len(sub_type) <= 32:
        raise ValidationError(f"sub_type must be a string of 1 to 32 characters, got {sub_type!r}")
    if not set(sub_type) <= _SUB_TYPE_CHARS:
        raise ValidationError(
            f"sub_type may hold only letters, digits, '-' and '_', got {sub_type!r}"
        )


NAME_ATTRIBUTE = "_original_name"
"""Where the decorators (``durable_step``...) leave a function's name for its operation.

It is the official SDK's attribute, so functions decorated with either SDK name their
operations alike.
"""

STEP_BINDER = "_durable_step_binder"
"""Attribute ``@durable_step`` sets on the function it returns (``f(*args) -> step``)."""

RESULT_SOURCE = "_durable_result_source"
"""Attribute the SDK's decorators set on the functions they build: the user's function,
whose return annotation declares the result type."""


def validate_name(name: str | None) -> None:
    """Check an operation name: 1-256 printable ASCII characters, as the API requires."""
    if name is None:
        return
    if not isinstance(name, str):
        raise ValidationError(f"an operation name must be a string, got {type(name).__name__}")
    # isascii() and isprintable() is exactly "every character in ' '..'~'", at C speed.
    if not 1 <= len(name) <= 256 or not (name.isascii() and name.isprintable()):
        raise ValidationError(
            f"an operation name must be 1 to 256 printable ASCII characters, got {name!r:.80}"
        )


class StepSemantics(enum.Enum):
    """How often a step body may run per attempt.

    ``AT_LEAST_ONCE_PER_RETRY`` (default): START is checkpointed in the
    background; if the invocation dies mid-step the attempt runs again.
    ``AT_MOST_ONCE_PER_RETRY``: START is durable before the body runs; an
    interrupted attempt is never run again but handed to the retry strategy as
    :class:`~durable_exec.StepInterruptedError`.
    """

    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"


class NestingType(enum.Enum):
    """How map/parallel branches are recorded.

    ``NESTED``: one CONTEXT operation per branch. ``FLAT``: no per-branch
    context (fewer operations; the branches' own operations hang off the batch).
    """

    NESTED = "NESTED"
    FLAT = "FLAT"


class BatchItemStatus(enum.Enum):
    """Where one map item or parallel branch ended."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionOutcome(enum.Enum):
    """Whether a custom completion decision counts as success or failure."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclasses.dataclass(frozen=True)
class CompletionDecision:
    """A custom completion predicate's answer.

    Build it with :func:`complete_batch` or :func:`continue_batch`.
    """

    complete: bool
    outcome: CompletionOutcome | None = None

    def __post_init__(self) -> None:
        if self.complete and self.outcome is None:
            raise ValidationError(
                "a CompletionDecision that completes the batch needs an outcome "
                "(SUCCEEDED or FAILED); build it with complete_batch(outcome)"
            )
        if not self.complete and self.outcome is not None:
            raise ValidationError(
                f"a CompletionDecision that keeps the batch running cannot carry an "
                f"outcome (got {self.outcome!r}); use continue_batch() without one"
            )


def continue_batch() -> CompletionDecision:
    """Keep the batch running."""
    return CompletionDecision(complete=False)


def complete_batch(outcome: CompletionOutcome = CompletionOutcome.SUCCEEDED) -> CompletionDecision:
    """Complete the batch now with ``outcome``."""
    return CompletionDecision(complete=True, outcome=outcome)


@dataclasses.dataclass(frozen=True)
class CompletionItemStatus:
    """One item as a completion predicate sees it."""

    index: int
    name: str | None = None
    status: BatchItemStatus | None = None


@dataclasses.dataclass(frozen=True)
class CompletionStatus:
    """The batch as a completion predicate sees it."""

    success_count: int
    failure_count: int
    completed_count: int
    total_count: int
    items: tuple[CompletionItemStatus, ...] = ()


@dataclasses.dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel is done.

    With no criterion set, the batch stops at the first failure. Otherwise it
    completes when ``min_successful`` items have succeeded, stops scheduling
    when failures exceed ``tolerated_failure_count`` or
    ``tolerated_failure_percentage`` (of all items, 0-100), and completes when
    every item has finished. A custom ``should_complete`` predicate replaces
    the thresholds; it must be deterministic.

    Attributes:
        min_successful: Successes needed to complete early (>= 1).
        tolerated_failure_count: Failures tolerated (>= 0).
        tolerated_failure_percentage: Failures tolerated, as a percentage of all items.
        should_complete: A custom predicate, exclusive with the three thresholds.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None
    should_complete: Callable[[CompletionStatus], CompletionDecision] | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and (
            not _is_int(self.min_successful) or self.min_successful < 1
        ):
            raise ValidationError(
                f"min_successful takes a whole number of 1 or more, got {self.min_successful!r}"
            )
        if self.tolerated_failure_count is not None and (
            not _is_int(self.tolerated_failure_count) or self.tolerated_failure_count < 0
        ):
            raise ValidationError(
                "tolerated_failure_count must be an int of 0 or more, "
                f"got {self.tolerated_failure_count!r}"
            )
        pct = self.tolerated_failure_percentage
        if pct is not None and (
            isinstance(pct, bool)
            or not isinstance(pct, int | float)
            or not math.isfinite(pct)
            or not 0 <= pct <= 100
        ):
            raise ValidationError(
                f"tolerated_failure_percentage is a percentage (0 to 100 inclusive), got {pct!r}"
            )
        if self.should_complete is not None:
            if not callable(self.should_complete):
                raise ValidationError(
                    f"should_complete takes a function of the CompletionStatus, "
                    f"got {self.should_complete!r}"
                )
            if (
                self.min_successful is not None
                or self.tolerated_failure_count is not None
                or pct is not None
            ):
                raise ValidationError(
                    "a CompletionConfig with should_complete takes no thresholds "
                    "(min_successful, tolerated_failure_count, tolerated_failure_percentage); "
                    "check those counts inside the predicate instead"
                )

    @property
    def has_criteria(self) -> bool:
        """Whether any threshold or predicate is set."""
        return (
            self.min_successful is not None
            or self.tolerated_failure_count is not None
            or self.tolerated_failure_percentage is not None
            or self.should_complete is not None
        )

    @classmethod
    def first_successful(cls) -> CompletionConfig:
        """Complete as soon as one item succeeds."""
        return cls(min_successful=1)

    @classmethod
    def all_completed(cls) -> CompletionConfig:
        """Run every item, whatever fails."""
        return cls(tolerated_failure_percentage=100)

    @classmethod
    def all_successful(cls) -> CompletionConfig:
        """Every item must succeed; stop at the first failure."""
        return cls(tolerated_failure_count=0, tolerated_failure_percentage=0)


def _check_result_type(result_type: Any) -> None:
    """Reject a ``result_type`` that no value can be checked against, before anything runs."""
    if result_type is not None:
        from durable_exec._typed import converter_for  # noqa: PLC0415 - loaded on first use

        converter_for(result_type)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_retry_strategy(value: Any, *, what: str = "retry_strategy") -> Any:
    """Return ``value`` as a retry strategy callable (``None`` stays ``None``).

    A :class:`RetryStrategyConfig` (or :class:`LinearRetryStrategyConfig`) given
    where a strategy belongs is turned into the strategy ``create_retry_strategy``
    (or ``create_linear_retry_strategy``) builds from it: an easy mistake, which
    AWS's own examples make.

    Raises:
        ValidationError: ``value`` is neither a config nor callable.
    """
    if isinstance(value, RetryStrategyConfig):
        return create_retry_strategy(value)
    if isinstance(value, LinearRetryStrategyConfig):
        return create_linear_retry_strategy(value)
    if value is not None and not callable(value):
        raise ValidationError(
            f"{what} must be callable as (error, attempts_made), or a RetryStrategyConfig; "
            f"got {value!r}"
        )
    return value


RetryStrategyLike: TypeAlias = (
    RetryStrategy
    | Callable[[Exception, int], Any]
    | RetryStrategyConfig
    | LinearRetryStrategyConfig
    | None
)
"""What a ``retry_strategy`` field takes: a strategy, a strategy config, or ``None``."""


class RetryStrategyField:
    """A config's ``retry_strategy`` field: set with a strategy or its config, read as a strategy.

    Used as the default of a dataclass field, it types the generated ``__init__``
    parameter as :data:`RetryStrategyLike` (a ``RetryStrategyConfig`` included,
    which the runtime converts with :func:`as_retry_strategy`) and the attribute
    as the callable (or ``None``) it holds, as the official SDK types it. The
    field's default is ``None``.
    """

    __slots__ = ("_key",)

    def __init__(self) -> None:
        self._key = "_retry_strategy"

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._key = f"_{name}"

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> None: ...

    @overload
    def __get__(
        self, obj: object, owner: type[Any] | None = None
    ) -> RetryStrategy | Callable[[Exception, int], Any] | None: ...

    def __get__(
        self, obj: object | None, owner: type[Any] | None = None
    ) -> RetryStrategy | Callable[[Exception, int], Any] | None:
        if obj is None:
            return None  # the class-level read: the dataclass field's default
        strategy: RetryStrategy | Callable[[Exception, int], Any] | None
        strategy = obj.__dict__.get(self._key)
        return strategy

    def __set__(self, obj: object, value: RetryStrategyLike) -> None:
        # Frozen dataclasses set fields through object.__setattr__, which lands here.
        obj.__dict__[self._key] = as_retry_strategy(value)


def _check_concurrency(value: int | None) -> None:
    if value is not None and (not _is_int(value) or value < 1):
        raise ValidationError(f"max_concurrency must be an int of at least 1, got {value!r}")


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """How a step runs.

    Attributes:
        retry_strategy: ``(error, attempts_made) -> RetryDecision``, a
            :class:`~durable_exec.RetryPolicy`, or ``None`` for
            ``RetryPresets.default()`` (6 attempts). A ``RetryStrategyConfig``
            (or ``LinearRetryStrategyConfig``) is accepted too and used as
            ``create_retry_strategy(config)`` would build it.
        step_semantics: At-least-once (default) or at-most-once per attempt.
        serdes: Serdes of the result; the extended-type serdes when ``None``.
        sub_type: SubType recorded instead of ``Step`` (1-32 of ``[A-Za-z0-9_-]``).
        result_type: The declared type of the result (a dataclass, pydantic model,
            enum, ``datetime``... or a list/dict/Optional of them); by default the
            step function's return annotation, unless ``serdes`` is given. The result
            is stored as plain data and rebuilt as this type on every run.
    """

    retry_strategy: RetryStrategyField = RetryStrategyField()
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes[Any] | None = None
    sub_type: str | None = dataclasses.field(default=None, kw_only=True)
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.step_semantics, StepSemantics):
            raise ValidationError(
                f"step_semantics must be a StepSemantics, got {self.step_semantics!r}"
            )
        validate_sub_type(self.sub_type)
        _check_result_type(self.result_type)


@dataclasses.dataclass(frozen=True)
class ChildConfig(Generic[T]):
    """How a child context runs.

    Attributes:
        serdes: Serdes of the result; the extended-type serdes when ``None``.
        sub_type: SubType recorded instead of ``RunInChildContext``.
        summary_generator: Makes the payload stored instead of a result over
            256 KiB (the value is rebuilt from the children on replay).
        is_virtual: Record no CONTEXT operation for the child itself.
        result_type: The declared type of the result; by default the child
            function's return annotation, unless ``serdes`` is given.
    """

    serdes: SerDes[Any] | None = None
    sub_type: str | None = None
    summary_generator: Callable[[T], str] | None = None
    is_virtual: bool = False
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        validate_sub_type(self.sub_type)
        _check_result_type(self.result_type)


@dataclasses.dataclass(frozen=True)
class CallbackConfig:
    """How a callback waits.

    Attributes:
        timeout: Overall timeout; zero means none.
        heartbeat_timeout: Longest gap between heartbeats; zero means none.
        serdes: Decodes the result; pass-through (the raw string) when ``None``.
        sub_type: SubType recorded instead of ``Callback``.
        result_type: The declared type of the result. The external system's
            string is then read as JSON (or with ``serdes``, when given) and rebuilt
            as this type; ``str`` keeps the raw string.
    """

    timeout: DurationLike = dataclasses.field(default_factory=Duration)
    heartbeat_timeout: DurationLike = dataclasses.field(default_factory=Duration)
    serdes: SerDes[Any] | None = None
    sub_type: str | None = dataclasses.field(default=None, kw_only=True)
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        for what in ("timeout", "heartbeat_timeout"):
            seconds = to_seconds(getattr(self, what), what=what)
            if seconds > MAX_CALLBACK_TIMEOUT:
                raise ValidationError(
                    f"{what} must be at most {MAX_CALLBACK_TIMEOUT} seconds, got {seconds}"
                )
        validate_sub_type(self.sub_type)
        _check_result_type(self.result_type)

    @property
    def timeout_seconds(self) -> int:
        """``timeout`` in whole seconds (rounded up), as the CALLBACK is checkpointed; 0 is none."""
        return to_seconds(self.timeout, what="timeout")

    @property
    def heartbeat_timeout_seconds(self) -> int:
        """``heartbeat_timeout`` in whole seconds (rounded up); 0 is none."""
        return to_seconds(self.heartbeat_timeout, what="heartbeat_timeout")


@dataclasses.dataclass(frozen=True)
class WaitForCallbackConfig(CallbackConfig):
    """:class:`CallbackConfig` plus the retry strategy of the submitter step.

    ``retry_strategy`` takes what :attr:`StepConfig.retry_strategy` takes.
    """

    retry_strategy: RetryStrategyField = RetryStrategyField()


@dataclasses.dataclass(frozen=True)
class InvokeConfig(Generic[P, R]):
    """How a chained invoke encodes its payload and result.

    Attributes:
        serdes_payload: Encodes the payload; plain JSON when ``None``.
        serdes_result: Decodes the result; plain JSON when ``None``.
        tenant_id: Tenant of the invoked function (1-256 characters).
        result_type: The declared type of the result, read as JSON (or with
            ``serdes_result``) and rebuilt as this type. A dataclass or pydantic
            payload is sent as its JSON object when ``serdes_payload`` is unset.
    """

    serdes_payload: SerDes[Any] | None = None
    serdes_result: SerDes[Any] | None = None
    tenant_id: str | None = None
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_result_type(self.result_type)
        if self.tenant_id is not None and (
            not isinstance(self.tenant_id, str) or not 1 <= len(self.tenant_id) <= 256
        ):
            raise ValidationError(
                f"tenant_id must be a string of 1 to 256 characters, got {self.tenant_id!r}"
            )


@dataclasses.dataclass(frozen=True)
class ParallelBranch(Generic[T]):
    """A parallel branch with a name.

    Attributes:
        func: ``(DurableContext) -> T``.
        name: The branch's operation name (default ``parallel-branch-{i}``).
    """

    func: Callable[..., T]
    name: str | None = None

    def __call__(self, context: Any) -> T:
        """Run the branch."""
        return self.func(context)


@dataclasses.dataclass(frozen=True)
class MapConfig(Generic[T]):
    """How a map runs.

    Attributes:
        max_concurrency: Items in flight at once (running or suspended); all when ``None``.
        completion_config: When the map is done (default: stop at the first failure).
        serdes: Serdes of the whole result (and of items when ``item_serdes`` is unset).
        item_serdes: Serdes of each item's result.
        summary_generator: Text stored inside the summary of a result over 256 KiB.
        nesting_type: ``NESTED`` (a CONTEXT per item) or ``FLAT``.
        item_namer: ``(item, index) -> name``; default ``map-item-{index}``.
        result_type: The declared type of each item's result; by default the map
            function's return annotation, unless a serdes is given.
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = dataclasses.field(default_factory=CompletionConfig)
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = NestingType.NESTED
    item_namer: Callable[[T, int], str] | None = None
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_concurrency(self.max_concurrency)
        _check_result_type(self.result_type)


@dataclasses.dataclass(frozen=True)
class ParallelConfig:
    """How a parallel runs (as :class:`MapConfig`; every branch must succeed by default).

    ``result_type`` declares the type of every branch's result; by default each
    branch function's return annotation, unless a serdes is given.
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = dataclasses.field(
        default_factory=CompletionConfig.all_successful
    )
    serdes: SerDes[Any] | None = None
    item_serdes: SerDes[Any] | None = None
    summary_generator: Callable[[Any], str] | None = None
    nesting_type: NestingType = NestingType.NESTED
    result_type: Any = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _check_concurrency(self.max_concurrency)
        _check_result_type(self.result_type)
