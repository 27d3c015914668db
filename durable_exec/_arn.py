"""The parts of a durable execution ARN. Standard library only."""

from __future__ import annotations

import dataclasses
import re

__all__ = ["DurableExecutionArn"]

# arn:<partition>:lambda:<region>:<account>:function:<name>:<qualifier>
#   /durable-execution/<execution>/<invocation>
_SHAPE = re.compile(
    r"arn:[^:]*:lambda:[^:]*:[^:]*:function:(?P<function>[^:/]+):[^:/]+"
    r"/durable-execution/(?P<execution>[^/]+)/(?P<invocation>[^/]+)"
)


@dataclasses.dataclass(frozen=True)
class DurableExecutionArn:
    """A durable execution ARN split into the parts that name it.

    Attributes:
        function_name: The Lambda function's name.
        execution_name: The execution's name (unique per function).
        invocation_id: The id that ends the ARN.
    """

    function_name: str
    execution_name: str
    invocation_id: str

    @classmethod
    def from_arn(cls, arn: str) -> DurableExecutionArn | None:
        """Split ``arn``; return ``None`` when it is not a qualified durable execution ARN."""
        match = _SHAPE.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            return None
        return cls(match["function"], match["execution"], match["invocation"])
