"""Async step bodies: coroutines run on one event loop the SDK owns per invocation.

``context.step`` (and map and parallel branch functions) accept ``async def``
bodies. The first one an invocation meets starts an :class:`EventLoopThread`: an
asyncio loop running on its own thread, shared by every branch of that
invocation. The calling thread (the handler's, or a map/parallel pool thread)
blocks until its coroutine is done, exactly as it would on a synchronous body.

The loop is registered with the invocation like a thread pool: before the
handler returns, the SDK stops it, cancels whatever still runs on it, closes
it and joins its thread (bounded by the invocation's deadline). This module
(and ``asyncio``) is imported only when the first async body runs; telling an
``async def`` body apart (``is_async``) lives with the decorators in
:mod:`durable_exec._context`.

Rules that keep this safe:

* A coroutine that is still running when the invocation's deadline comes near
  is cancelled, and the invocation ends the way every durable call ends at the
  deadline (flush, then let Lambda invoke again); the step's attempt runs again
  then (at least once) or is reported interrupted (at most once).
* Whatever still runs on the loop when the invocation ends (a branch cut off by
  the deadline) is cancelled then, before the pools are joined, so a pool thread
  waiting on a coroutine is released.
* Durable operations are blocking calls: call them from the synchronous code
  around the coroutine, not from inside it. Starting an async body from inside
  another one (on the loop's own thread) raises ValidationError instead of
  deadlocking.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from durable_exec._errors import ValidationError
from durable_exec._signals import BranchOrphaned, DeadlineApproaching

if TYPE_CHECKING:
    import asyncio

    from durable_exec._operations.base import ContextCore, Invocation

__all__ = ["EventLoopThread", "run_awaitable"]

_LOCK = threading.Lock()
_LOOPS: weakref.WeakKeyDictionary[Invocation, EventLoopThread] = weakref.WeakKeyDictionary()
_LOOP_THREADS: set[int] = set()  # thread ids of live loops; guarded by _LOCK (writes)


class EventLoopThread:
    """An asyncio event loop on its own thread, for the lifetime of one invocation.

    It quacks like the thread pools the invocation joins before returning:
    ``shutdown(wait, cancel_futures)`` stops the loop (cancelling what still
    runs, then closing it) and ``_threads`` names the thread to join.
    """

    def __init__(self) -> None:
        import asyncio  # noqa: PLC0415 - only invocations with async bodies pay for it

        self._asyncio = asyncio
        self._loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self._stopping = False  # guarded by _lock
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="durable-asyncio", daemon=True)
        self._threads = (self._thread,)
        self._thread.start()
        assert self._thread.ident is not None
        with _LOCK:
            _LOOP_THREADS.add(self._thread.ident)

    @property
    def closed(self) -> bool:
        """Whether the loop has been closed."""
        return self._loop.is_closed()

    def _run(self) -> None:
        loop = self._loop
        asyncio = self._asyncio
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()
                with _LOCK:
                    _LOOP_THREADS.discard(threading.get_ident())

    def submit(self, awaitable: Awaitable[Any]) -> concurrent.futures.Future[Any]:
        """Schedule ``awaitable`` on the loop; return a future for its result."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("the invocation's event loop has been shut down")
            coroutine = awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)
            return self._asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def shutdown(self, wait: bool = True, cancel_futures: bool = True) -> None:
        """Stop the loop: cancel its tasks, close it; with ``wait``, join its thread."""
        with self._lock:
            if not self._stopping:
                self._stopping = True
                self._loop.call_soon_threadsafe(self._loop.stop)
        if wait:
            self._thread.join()

    def __repr__(self) -> str:
        return f"EventLoopThread(closed={self.closed})"


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _loop_for(invocation: Invocation) -> EventLoopThread:
    with _LOCK:
        loop = _LOOPS.get(invocation)
    if loop is None:
        created = EventLoopThread()
        with _LOCK:
            loop = _LOOPS.get(invocation)
            if loop is None:
                loop = _LOOPS[invocation] = created
        if loop is not created:  # another branch won the race: keep its loop
            created.shutdown(wait=True)
    _stop_first(invocation, loop)
    return loop


def _stop_first(invocation: Invocation, loop: EventLoopThread) -> None:
    """Keep the loop after every pool registered so far: the invocation stops it first.

    Pools are stopped last-registered first. A pool thread blocked on a coroutine
    (an orphaned branch) is released only when the loop stops, so the loop must be
    stopped before any pool whose threads may wait on it is joined.
    """
    invocation.register_executor(loop, last=True)


def run_awaitable(core: ContextCore, awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` on the invocation's loop and return its result (blocking).

    Raises:
        ValidationError: Called from the loop's own thread (an async body
            starting another one).
        DeadlineApproaching: The invocation's deadline came near first; the
            coroutine is cancelled.
        BranchOrphaned: The loop was stopped because the branch's batch completed.
        Exception: Whatever the coroutine raised.
    """
    if threading.get_ident() in _LOOP_THREADS:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise ValidationError(
            "an async step body cannot be started from inside another async body: both "
            "would run on the SDK's event loop. Await the coroutine directly instead, and "
            "call durable operations from the synchronous code around it."
        )
    invocation = core.invocation
    future = _loop_for(invocation).submit(awaitable)
    deadline = invocation.deadline
    timeout = deadline.until_near() if deadline is not None else None
    done, _ = concurrent.futures.wait([future], timeout=timeout)
    if not done:
        future.cancel()
        raise DeadlineApproaching
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        if core.scope is not None and core.scope.cancelled:
            raise BranchOrphaned from None
        raise


def async_body(func: Callable[..., Any], core_of: Callable[..., ContextCore]) -> Callable[..., Any]:
    """Wrap an ``async def`` body so the SDK can call it like a synchronous one.

    Args:
        func: The async function.
        core_of: Returns the calling context's core from the body's arguments.
    """

    def body(*args: Any) -> Any:
        return run_awaitable(core_of(*args), func(*args))

    return body
