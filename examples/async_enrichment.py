"""Async step bodies: call asyncio libraries from a synchronous durable handler.

``fetch_profile`` and ``score`` are ``async def``: the SDK runs them on one event
loop it owns for the invocation (on its own thread, shared by the map's
branches), blocks the calling step until they finish, and closes the loop before
the handler returns. ``asyncio.gather`` inside one step runs its calls
concurrently.

Run it:
    durable-exec run examples/async_enrichment.py:handler --input '{"users": ["u1", "u2"]}'
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from durable_exec import (
    DurableContext,
    MapConfig,
    StepContext,
    durable_execution,
    durable_step,
)


async def _lookup(user: str, field: str) -> str:
    await asyncio.sleep(0)  # stands in for an aiohttp/httpx/aioboto3 call
    return f"{field}:{user}"


@durable_step
async def fetch_profile(step_context: StepContext, user: str) -> dict:
    name, plan = await asyncio.gather(_lookup(user, "name"), _lookup(user, "plan"))
    return {"user": user, "name": name, "plan": plan}


async def score(context: DurableContext, user: str, index: int, users: Sequence[str]) -> int:
    await asyncio.sleep(0)
    return len(user) * 10 + index


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    users = event.get("users", ["u1", "u2"])
    profiles = [context.step(fetch_profile(user), name=f"profile-{user}") for user in users]
    scores = context.map(users, score, name="score", config=MapConfig(max_concurrency=2))
    return {"profiles": profiles, "scores": scores.get_results()}
