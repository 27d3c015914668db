"""History events, read as the official testing package's model reads them (``...testing.model``).

``DurableFunctionTestRunner.get_execution_history`` returns a
:class:`GetDurableExecutionHistoryResponse`; :func:`events_to_operations`
rebuilds operations from events, as the cloud runner does.
"""

from durable_exec.testing._compat_result import (
    Event,
    EventType,
    GetDurableExecutionHistoryResponse,
    events_to_operations,
)

__all__ = ["Event", "EventType", "GetDurableExecutionHistoryResponse", "events_to_operations"]
