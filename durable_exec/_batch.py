"""The outcome of map and parallel: BatchResult, its items, and the completion rules.

A BatchResult is stored as the batch CONTEXT's payload with the extended serdes
(tag ``br``, as the official SDK writes it). When it is over 256 KiB, a summary
envelope is stored instead and the result is rebuilt from the branches on replay.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_exec._config import (
    BatchItemStatus,
    CompletionConfig,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
)
from durable_exec._errors import BatchCompletionError, ChildContextError, CompletionReason
from durable_exec._operations.base import rebuild_error
from durable_exec._serde import register_extended_type
from durable_exec._typed_generics import register_generic
from durable_exec._wire import ErrorObject

if TYPE_CHECKING:
    from durable_exec._typed import Converter

__all__ = [
    "BatchItem",
    "BatchResult",
    "CompletionPolicy",
    "CompletionReason",
    "batch_converter",
    "infer_reason",
    "summary_envelope",
]

R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class BatchItem(Generic[R]):
    """One item or branch of a batch.

    Attributes:
        index: Position in the input.
        status: SUCCEEDED, FAILED, or STARTED (abandoned when the batch completed early).
        result: The branch's result (SUCCEEDED only).
        error: The branch's error (FAILED only).
    """

    index: int
    status: BatchItemStatus
    result: R | None = None
    error: ErrorObject | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"index", "status", "result", "error"}``."""
        return {
            "index": self.index,
            "status": self.status.value,
            "result": self.result,
            "error": self.error.to_wire() if self.error is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchItem[Any]:
        """Rebuild an item from :meth:`to_dict`'s output."""
        error = data.get("error")
        return cls(
            index=int(data["index"]),
            status=BatchItemStatus(data["status"]),
            result=data.get("result"),
            error=ErrorObject.from_wire(error) if error else None,
        )


@dataclasses.dataclass(frozen=True)
class BatchResult(Generic[R]):
    """The outcome of ``map`` or ``parallel``: one item per started branch, in index order.

    Branch failures are captured here, not raised; call :meth:`throw_if_error`
    to raise the first one.

    Attributes:
        all: The items (never-started items are left out).
        completion_reason: Why the batch ended.
    """

    all: list[BatchItem[R]]
    completion_reason: CompletionReason

    def succeeded(self) -> list[BatchItem[R]]:
        """Items that succeeded."""
        return [i for i in self.all if i.status is BatchItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[R]]:
        """Items that failed."""
        return [i for i in self.all if i.status is BatchItemStatus.FAILED]

    def started(self) -> list[BatchItem[R]]:
        """Items abandoned while still running or suspended."""
        return [i for i in self.all if i.status is BatchItemStatus.STARTED]

    def get_results(self) -> list[R | None]:
        """Results of the succeeded items, in index order."""
        return [i.result for i in self.all if i.status is BatchItemStatus.SUCCEEDED]

    def get_errors(self) -> list[ErrorObject | None]:
        """Errors of the failed items, in index order."""
        return [i.error for i in self.all if i.status is BatchItemStatus.FAILED]

    def throw_if_error(self) -> None:
        """Raise the first failure as :class:`ChildContextError` (or a custom FAILED decision).

        Raises:
            ChildContextError: An item failed.
            BatchCompletionError: ``should_complete`` completed the batch as FAILED.
        """
        for item in self.all:
            if item.status is BatchItemStatus.FAILED:
                if item.error is None:
                    raise ChildContextError(
                        f"Batch item {item.index} failed without an ErrorObject."
                    )
                raise rebuild_error(item.error, ChildContextError)
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            raise BatchCompletionError(
                self.completion_reason,
                "Batch completed as failed by should_complete (CUSTOM_COMPLETION_FAILED)",
            )

    @property
    def status(self) -> BatchItemStatus:
        """FAILED if the batch counts as failed (an item failed, or a custom FAILED decision)."""
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED:
            return BatchItemStatus.FAILED
        if self.completion_reason is CompletionReason.CUSTOM_COMPLETION_SUCCEEDED:
            return BatchItemStatus.SUCCEEDED
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

    @property
    def has_failure(self) -> bool:
        """Whether any item failed."""
        return any(i.status is BatchItemStatus.FAILED for i in self.all)

    @property
    def success_count(self) -> int:
        """Number of succeeded items."""
        return sum(1 for i in self.all if i.status is BatchItemStatus.SUCCEEDED)

    @property
    def failure_count(self) -> int:
        """Number of failed items."""
        return sum(1 for i in self.all if i.status is BatchItemStatus.FAILED)

    @property
    def started_count(self) -> int:
        """Number of abandoned items."""
        return sum(1 for i in self.all if i.status is BatchItemStatus.STARTED)

    @property
    def total_count(self) -> int:
        """Number of items reported (started ones)."""
        return len(self.all)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"all": [...], "completionReason": ...}``."""
        return {
            "all": [i.to_dict() for i in self.all],
            "completionReason": self.completion_reason.value,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], completion_config: CompletionConfig | None = None
    ) -> BatchResult[Any]:
        """Rebuild a result from :meth:`to_dict`'s output."""
        items = [BatchItem.from_dict(i) for i in data.get("all", [])]
        reason = data.get("completionReason")
        if reason is None:
            return cls.from_items(items, completion_config)
        return cls(items, CompletionReason(reason))

    @classmethod
    def from_items(
        cls, items: list[BatchItem[R]], completion_config: CompletionConfig | None = None
    ) -> BatchResult[R]:
        """Build a result from its items, working out why the batch ended.

        The reason is what ``completion_config`` (default: stop at the first
        failure) says of the items' statuses, every item counting towards the total:
        FAILURE_TOLERANCE_EXCEEDED when the failures are over the tolerance; the
        custom decision when ``should_complete`` completes the batch;
        ALL_COMPLETED when no item is left STARTED; MIN_SUCCESSFUL_REACHED when
        enough succeeded before the rest finished. Pass every branch of the batch,
        never-started ones included, or the reason may differ from the live one.

        Example:
            >>> from durable_exec import BatchItemStatus
            >>> done, running = BatchItemStatus.SUCCEEDED, BatchItemStatus.STARTED
            >>> items = [BatchItem(0, done, 1), BatchItem(1, running)]
            >>> BatchResult.from_items(items, CompletionConfig.first_successful()).completion_reason
            <CompletionReason.MIN_SUCCESSFUL_REACHED: 'MIN_SUCCESSFUL_REACHED'>
        """
        return cls(list(items), infer_reason(items, completion_config))


def infer_reason(items: list[BatchItem[Any]], config: CompletionConfig | None) -> CompletionReason:
    """Why a batch of ``items`` ended under ``config`` (see :meth:`BatchResult.from_items`)."""
    failures = sum(1 for i in items if i.status is BatchItemStatus.FAILED)
    successes = sum(1 for i in items if i.status is BatchItemStatus.SUCCEEDED)
    config = config or CompletionConfig()
    if CompletionPolicy(config, len(items)).tolerance_exceeded(failures):
        return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    if config.should_complete is not None:
        decision = config.should_complete(
            CompletionStatus(
                success_count=successes,
                failure_count=failures,
                completed_count=successes + failures,
                total_count=len(items),
                items=tuple(CompletionItemStatus(i.index, status=i.status) for i in items),
            )
        )
        if decision.complete:
            if decision.outcome is CompletionOutcome.FAILED:
                return CompletionReason.CUSTOM_COMPLETION_FAILED
            return CompletionReason.CUSTOM_COMPLETION_SUCCEEDED
    if successes + failures >= len(items):
        return CompletionReason.ALL_COMPLETED
    if config.min_successful is not None and successes >= config.min_successful:
        return CompletionReason.MIN_SUCCESSFUL_REACHED
    return CompletionReason.ALL_COMPLETED


register_extended_type("br", BatchResult, BatchResult.to_dict, BatchResult.from_dict)


class CompletionPolicy:
    """The completion rules of one batch (see CompletionConfig)."""

    def __init__(self, config: CompletionConfig, total: int) -> None:
        self.config = config
        self.total = total

    def tolerance_exceeded(self, failed: int) -> bool:
        c = self.config
        if c.should_complete is not None:
            return False
        if not c.has_criteria:
            return failed > 0
        if c.tolerated_failure_count is not None and failed > c.tolerated_failure_count:
            return True
        pct = c.tolerated_failure_percentage
        return pct is not None and self.total > 0 and failed / self.total * 100 > pct


def summary_envelope(
    summary_type: str, result: BatchResult[Any], generator: Callable[[Any], str] | None
) -> str:
    started = [i.index for i in result.all if i.status is BatchItemStatus.STARTED]
    completed = [i.index for i in result.all if i.status is not BatchItemStatus.STARTED]
    envelope: dict[str, Any] = {
        "type": summary_type,
        "totalCount": result.total_count,
        "completionReason": result.completion_reason.value,
    }
    if len(started) <= len(completed):
        envelope["startedIndexes"] = started
    else:
        envelope["completedIndexes"] = completed
    envelope["startedCount"] = result.started_count
    envelope["successCount"] = result.success_count
    envelope["failureCount"] = result.failure_count
    envelope["status"] = result.status.value
    if generator is not None:
        envelope["summary"] = str(generator(result))
    return json.dumps(envelope)


def batch_converter(items: Sequence[Converter | None], name: str) -> Converter:
    """Take a BatchResult apart (and rebuild it) with each index's declared item type."""
    from durable_exec._typed import Converter, TypeMismatchError  # noqa: PLC0415

    def item_converter(index: int) -> Converter | None:
        if len(items) == 1:
            return items[0]
        return items[index] if index < len(items) else None

    def convert(batch: Any, step: Callable[[Converter, Any], Any]) -> Any:
        if not isinstance(batch, BatchResult):
            raise TypeMismatchError(name, type(batch).__name__)
        rebuilt = []
        for item in batch.all:
            converter = item_converter(item.index)
            if converter is None or item.status is not BatchItemStatus.SUCCEEDED:
                rebuilt.append(item)
                continue
            try:
                result = step(converter, item.result)
            except TypeMismatchError as exc:
                exc.path.append(f".all[{item.index}].result")
                raise
            rebuilt.append(BatchItem(item.index, item.status, result, item.error))
        return BatchResult(rebuilt, batch.completion_reason)

    def dump(batch: Any, json_mode: bool) -> Any:
        return convert(batch, lambda c, v: c.dump(v, json_mode))

    def load(data: Any) -> Any:
        return convert(data, lambda c, v: c.load(v))

    return Converter(name, dump, load, lambda v: isinstance(v, BatchResult))


def _batch_generic(args: tuple[Any, ...]) -> Converter:
    from durable_exec._typed import converter_for, type_name  # noqa: PLC0415 - already loaded

    item = converter_for(args[0]) if args else None
    return batch_converter([item], f"BatchResult[{type_name(args[0]) if args else 'Any'}]")


# The typed layer converts BatchResult[T] item by item; the registration is cheap,
# the typed layer itself loads only when a result type is declared.
register_generic(BatchResult, _batch_generic)
