"""Child contexts: a durable scope with its own operation ids and one checkpointed result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from durable_exec._config import ChildConfig
from durable_exec._errors import (
    ChildContextError,
    DurableOperationError,
    NonDeterministicExecutionError,
    UnrecoverableError,
)
from durable_exec._operations.base import (
    ContextCore,
    OperationRef,
    error_object,
    observe,
    rebuild_error,
    user_function,
    validate_identity,
)
from durable_exec._scope import CancelScope
from durable_exec._serde import deserialize, serialize
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["REPLAY_CHILDREN_THRESHOLD", "run_child", "run_child_at"]

T = TypeVar("T")

REPLAY_CHILDREN_THRESHOLD = 256 * 1024
"""Results larger than this (bytes) are not stored; the children are replayed instead."""


def run_child(
    core: ContextCore,
    func: Callable[[Any], T],
    name: str | None,
    config: ChildConfig[T],
    *,
    sub_type: str = OperationSubType.RUN_IN_CHILD_CONTEXT.value,
    error_class: type[DurableOperationError] = ChildContextError,
    pass_core: bool = False,
) -> T:
    """Call ``func`` with a nested context; see ``DurableContext.run_in_child_context``.

    With ``pass_core``, ``func`` receives the child's :class:`ContextCore` instead of
    a public context (for operations built from other operations).
    """
    op_id = core.next_id()
    if config.is_virtual:
        return _run_virtual(
            core, op_id, func, name, config, error_class, config.sub_type or sub_type
        )
    return run_child_at(
        core,
        op_id,
        func,
        name,
        config,
        sub_type=config.sub_type or sub_type,
        error_class=error_class,
        pass_core=pass_core,
    )


def run_child_at(
    core: ContextCore,
    op_id: str,
    func: Callable[[Any], T],
    name: str | None,
    config: ChildConfig[T],
    *,
    sub_type: str,
    parent_id: str | None = None,
    scope: CancelScope | None = None,
    error_class: type[DurableOperationError] = ChildContextError,
    summary: Callable[[T], str] | None = None,
    pass_core: bool = False,
    await_outcome: bool = True,
) -> T:
    """Run ``func`` in the child context ``op_id`` (ids given by the caller, e.g. map items).

    With ``await_outcome=False`` (map/parallel branches) the context's SUCCEED or
    FAIL is queued, not waited for: the value goes to the batch's coordinator,
    never to user code, and the batch's own outcome, which is waited for, is
    queued after it. A branch's slot is then free one round trip sooner.
    """
    invocation = core.invocation
    parent = parent_id if parent_id is not None else core.record_parent
    op = invocation.state.get(op_id)
    if op is not None:
        validate_identity(
            op, op_type=OperationType.CONTEXT, sub_type=sub_type, name=name, parent_id=parent
        )
        replaying = observe(core, op)
        if op.status is OperationStatus.SUCCEEDED and not op.replay_children:
            return deserialize(config.serdes, op.result, op_id, invocation.arn)  # type: ignore[no-any-return]
        if op.status is OperationStatus.FAILED:
            raise rebuild_error(op.error, error_class)
        if op.is_terminal and op.status is not OperationStatus.SUCCEEDED:
            raise error_class(f"child context {name or op_id} ended {op.status.value}")
    else:
        replaying = False
    own_scope = scope or core.scope
    child = core.child(op_id, prefix=op_id, scope=scope)
    child.replay_hooks = replaying

    def update(action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type=OperationType.CONTEXT,
            action=action,
            parent_id=parent,
            name=name,
            sub_type=sub_type,
            **fields,
        )

    if op is None:
        # A map/parallel branch's own updates belong to its batch's scope: once the
        # batch completes they are refused here instead of by the service.
        core.enqueue(update(OperationAction.START), own_scope)
    send = core.checkpoint if await_outcome else core.enqueue
    context = child if pass_core else core.make_context(child)
    ref = OperationRef(op_id, OperationType.CONTEXT, sub_type, name, parent)
    replayed = op is not None and op.status is OperationStatus.SUCCEEDED
    stored: str | None = None
    options: dict[str, Any] = {"ReplayChildren": False}
    try:
        result = user_function(
            core,
            ref,
            None if op is not None else 1,
            func,
            context,
            replay_children=op is not None and bool(op.replay_children),
        )
        # The result goes through the serdes on every run (ReplayChildren replays too),
        # so the first run and every replay return equal values. A value the serdes
        # refuses, or a failing summary generator, fails the context like an error.
        payload = serialize(config.serdes, result, op_id, invocation.arn)
        value = deserialize(config.serdes, payload, op_id, invocation.arn)
        stored = payload
        if not replayed and payload is not None and len(payload) > REPLAY_CHILDREN_THRESHOLD:
            generator = summary or config.summary_generator
            stored = generator(result) if generator is not None else ""
            options = {"ReplayChildren": True}
    except UnrecoverableError:
        raise
    except Exception as error:
        if op_is_done(op):
            raise
        details = error_object(error)
        send(update(OperationAction.FAIL, error=details), own_scope)
        failure = rebuild_error(details, error_class)
        raise failure from failure.__cause__
    if replayed:
        # ReplayChildren: the value was rebuilt from the children's checkpoints.
        if invocation.plugins is not None:
            invocation.plugins.on_child_context_end(
                ref, OperationStatus.SUCCEEDED, is_replayed=True
            )
        return value  # type: ignore[no-any-return]
    send(update(OperationAction.SUCCEED, payload=stored, options=options), own_scope)
    return value  # type: ignore[no-any-return]


def _run_virtual(
    core: ContextCore,
    op_id: str,
    func: Callable[[Any], T],
    name: str | None,
    config: ChildConfig[T],
    error_class: type[DurableOperationError],
    sub_type: str,
) -> T:
    """Run ``func`` in a virtual child context: nothing is recorded for the context itself.

    The child still takes an id from the parent's counter, and its operations' ids
    are derived from it, so replay stays deterministic; those operations record the
    calling context's parent as their ``ParentId``. Its result is round-tripped
    through the serdes and never stored: every invocation runs ``func`` again, whose
    operations replay from their own checkpoints. A failure is raised as
    ``error_class`` (the same error on every invocation, since the failing
    operation replays its stored error), with no FAIL record.
    """
    invocation = core.invocation
    if op_id in invocation.state:
        raise NonDeterministicExecutionError(
            f"found a checkpoint at the id of virtual child context {name or op_id} ({op_id}): "
            "the history was written by a child context that was not virtual",
            step_id=op_id,
        )
    # No checkpoint at its id: from here on neither this context nor the child
    # reports replay to plugins (as in the official SDK).
    core.replay_hooks = False
    child = core.child(None, prefix=op_id, virtual_parent=core.record_parent)
    context = core.make_context(child)
    plugins = invocation.plugins
    ref = OperationRef(op_id, OperationType.CONTEXT, sub_type, name, core.record_parent)
    try:
        result = user_function(core, ref, 1, func, context)
    except UnrecoverableError:
        raise
    except Exception as error:
        details = error_object(error)
        if plugins is not None:
            # No checkpoint of its own: the context's end is reported here.
            plugins.on_child_context_end(ref, OperationStatus.FAILED, error=details)
        failure = rebuild_error(details, error_class)
        raise failure from failure.__cause__
    payload = serialize(config.serdes, result, op_id, invocation.arn)
    value = deserialize(config.serdes, payload, op_id, invocation.arn)
    if plugins is not None:
        plugins.on_child_context_end(ref, OperationStatus.SUCCEEDED)
    return value  # type: ignore[no-any-return]


def op_is_done(op: Any) -> bool:
    """Whether the context's operation is already terminal (its outcome must not be re-sent)."""
    return op is not None and op.is_terminal
