"""Sagas: undo the steps that succeeded when a later one fails.

Experimental. A :class:`Saga` is a ``with`` block in a durable context. Each
forward step that succeeds registers the step that undoes it; if anything in
the block then raises, the registered compensations run in reverse order, each
as an ordinary durable step (checkpointed, with its own retries), and the
original error is raised again::

    with context.saga("book-trip") as saga:
        flight = saga.step(book_flight(trip), compensate=cancel_flight)
        hotel = saga.step(book_hotel(trip), compensate=cancel_hotel)
        saga.step(charge_card(trip, flight, hotel))

Nothing is recorded for the saga itself: its steps and compensations are
operations of the calling context, so a crash or a replay finds the forward
steps, the failure and the compensations that already ran in the history, and
carries on with the rest. Only errors of the workflow trigger compensation:
suspensions, an approaching deadline, non-determinism and invocation errors
pass through untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from durable_exec._config import NAME_ATTRIBUTE, STEP_BINDER, StepConfig, validate_name
from durable_exec._errors import SagaCompensationError, UnrecoverableError, ValidationError

if TYPE_CHECKING:
    from durable_exec._operations.step import StepContext

__all__ = ["STEP_BINDER", "Saga"]

T = TypeVar("T")

_MAX_NAME = 256


class _StepRunner(Protocol):
    """What a saga needs from its context (``DurableContext.step``)."""

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T: ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Compensation:
    name: str
    func: Callable[[StepContext], Any]
    config: StepConfig | None


class Saga:
    """Experimental: forward steps with compensations, undone in reverse on failure.

    Build it with :meth:`DurableContext.saga` and use it as a context manager.

    On replay: forward steps and compensations that already ran return from the
    history; a failure that happened before raises again, so the same
    compensations run (or replay) in the same order.

    Args:
        context: The durable context the saga's steps run in.
        name: The saga's name, used to name compensations without a name of their own.
    """

    def __init__(self, context: _StepRunner, name: str) -> None:
        validate_name(name)
        self._context = context
        self.name = name
        self._compensations: list[_Compensation] = []
        self._active = False

    @property
    def compensations(self) -> list[str]:
        """Names of the compensations registered so far, in registration order."""
        return [c.name for c in self._compensations]

    def step(
        self,
        func: Callable[[StepContext], T],
        *,
        compensate: Callable[..., Any] | None = None,
        name: str | None = None,
        config: StepConfig | None = None,
        compensate_config: StepConfig | None = None,
    ) -> T:
        """Run a forward step; once it succeeds, register ``compensate`` to undo it.

        Args:
            func: The step, as for :meth:`DurableContext.step`.
            compensate: What undoes it: a ``@durable_step`` function, called with
                the forward step's result to build the compensating step, or a
                step body ``(step_context) -> Any``.
            name: The forward step's name (default: the decorated function's name).
            config: The forward step's config.
            compensate_config: The compensating step's config (retries included).

        Returns:
            The forward step's result.
        """
        self._check_active()
        result = self._context.step(func, name=name, config=config)
        if compensate is not None:
            forward = name or getattr(func, NAME_ATTRIBUTE, None)
            self.add_compensation(
                _bind(compensate, result),
                name=_compensation_name(compensate, forward, self.name, len(self._compensations)),
                config=compensate_config,
            )
        return result

    def add_compensation(
        self,
        compensate: Callable[[StepContext], Any],
        *,
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> None:
        """Register a compensating step for work done outside :meth:`step` (an invoke, a child).

        Register it right after the work succeeds, on every run (also when
        replaying), so the list is the same on every invocation.

        Args:
            compensate: A step body ``(step_context) -> Any``.
            name: The compensating step's name (default ``"<saga> compensation <n>"``).
            config: The compensating step's config.
        """
        self._check_active()
        if not callable(compensate):
            raise ValidationError(f"a compensation must be callable, got {compensate!r}")
        if name is None:
            name = f"{self.name} compensation {len(self._compensations) + 1}"
        validate_name(name)
        self._compensations.append(_Compensation(name, compensate, config))

    def _check_active(self) -> None:
        if not self._active:
            raise ValidationError(
                f"saga {self.name!r} is used outside its with-block: write "
                f"`with context.saga({self.name!r}) as saga:` and call saga.step inside it"
            )

    def __enter__(self) -> Self:
        if self._active:
            raise ValidationError(f"saga {self.name!r} is already open")
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, UnrecoverableError):
            return
        failures: list[tuple[str, BaseException]] = []
        for compensation in reversed(self._compensations):
            try:
                self._context.step(
                    compensation.func, name=compensation.name, config=compensation.config
                )
            except UnrecoverableError:
                raise
            except Exception as error:
                failures.append((compensation.name, error))
        if failures:
            raise SagaCompensationError(exc, failures) from exc

    def __repr__(self) -> str:
        return f"Saga({self.name!r}, compensations={self.compensations!r})"


def _bind(compensate: Callable[..., Any], result: Any) -> Callable[[StepContext], Any]:
    if getattr(compensate, STEP_BINDER, False):
        step = compensate(result)
        if not callable(step):
            raise ValidationError(f"{compensate!r} did not return a step")
        return step  # type: ignore[no-any-return]
    return compensate


def _compensation_name(
    compensate: Callable[..., Any], forward: str | None, saga: str, index: int
) -> str:
    own = getattr(compensate, "__name__", None) if getattr(compensate, STEP_BINDER, False) else None
    if own:
        return str(own)[:_MAX_NAME]
    if forward:
        return f"compensate {forward}"[:_MAX_NAME]
    return f"{saga} compensation {index + 1}"[:_MAX_NAME]
