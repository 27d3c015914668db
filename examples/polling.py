"""A polling workflow: check a job's status with back-off until it finishes.

Run it:  durable-exec run examples/polling.py:handler --input '{"job_id": "j-7"}'
"""

from __future__ import annotations

from durable_exec import (
    DurableContext,
    Duration,
    JitterStrategy,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
    durable_execution,
)


def check_job_status(state: dict, context: WaitForConditionCheckContext) -> dict:
    # A real check would call the job API; this job finishes on the fourth look.
    polls = state["polls"] + 1
    return {**state, "polls": polls, "status": "DONE" if polls >= 4 else "RUNNING"}


POLICY = create_wait_strategy(
    WaitStrategyConfig(
        should_continue_polling=lambda state: state["status"] != "DONE",
        max_attempts=20,
        initial_delay=Duration(10),
        max_delay=Duration.from_minutes(5),
        backoff_rate=2.0,
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    job = context.wait_for_condition(
        check_job_status,
        WaitForConditionConfig(POLICY, {"job_id": event["job_id"], "polls": 0, "status": "NEW"}),
        name="wait-for-job",
    )
    return {"job_id": job["job_id"], "status": job["status"], "polls": job["polls"]}
