"""Private control-flow signals.

They derive from ``BaseException`` so that a user's ``except Exception`` cannot
swallow them: a suspension must unwind the whole handler, and an orphaned
branch must stop at its next durable call. The handler and the map/parallel
runner are the only places that catch them.
"""

from __future__ import annotations

__all__ = ["BranchOrphaned", "DeadlineApproaching", "SuspendExecution"]


class SuspendExecution(BaseException):
    """Stop the invocation here; the service invokes the function again later.

    Attributes:
        reason: Why the invocation stops (the message).
        resume_at: Wall-clock time (epoch seconds) at which progress becomes
            possible again, when known (waits, retries). ``None`` means an
            external event is awaited (callback, chained invoke).
        operation_id: The operation that is waiting, when one is.
    """

    def __init__(
        self, message: str = "", resume_at: float | None = None, operation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = message
        self.resume_at = resume_at
        self.operation_id = operation_id


class BranchOrphaned(BaseException):
    """A map/parallel branch kept running after its batch completed; it must stop.

    Attributes:
        operation_id: The operation the branch was about to start or checkpoint, when known.
    """

    def __init__(self, message: str = "", operation_id: str | None = None) -> None:
        super().__init__(message)
        self.operation_id = operation_id


class DeadlineApproaching(BaseException):
    """The invocation is about to reach Lambda's timeout: stop, flush, let Lambda invoke again."""
