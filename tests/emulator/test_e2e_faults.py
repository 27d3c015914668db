"""Faults on the wire: checkpoint calls whose response is lost, cut or throttled.

The handler reaches the emulator through the harness's FaultProxy, which breaks
one checkpoint call in one of three ways:

* ``lose-response``: the call reaches the emulator, the handler gets a 502;
* ``reset``: the call reaches the emulator, the connection closes unanswered;
* ``throttle``: the emulator never sees it, the handler gets a 429
  TooManyRequestsException with ``Retry-After: 1``.

durable_exec must retry the call within the invocation with the same ClientToken
and CheckpointToken, so that the emulator, which already applied a lost call,
answers the retry from its idempotency cache instead of refusing a stale token.

A call refused for a stale token (``stale-token``: the proxy swaps the token)
must not fail the execution: the invocation ends with an error and Lambda (here
the emulator) invokes the function again. (This needs the emulator to name its
error codes the way Lambda does; ``emulator_server.py`` patches that in.)
"""

from __future__ import annotations

import pytest
from emulator_harness import Emulator, Fault, ProxiedRequest

pytestmark = pytest.mark.emulator

FAULTS = ("lose-response", "reset", "throttle")


def charge_succeeded(reference: str):
    """Select the checkpoint call that carries the SUCCEED of step ``charge`` for ``reference``."""

    def matches(request: ProxiedRequest) -> bool:
        return request.api == "checkpoint" and any(
            update["Action"] == "SUCCEED"
            and update.get("Name") == "charge"
            and reference in (update.get("Payload") or "")
            for update in request.body.get("Updates") or ()
        )

    return matches


@pytest.mark.parametrize("kind", FAULTS)
def test_a_broken_checkpoint_call_is_retried_in_the_same_invocation(emulator: Emulator, kind):
    """A checkpoint call that fails in transit is retried with the same tokens and applied once."""
    reference = f"ref-{kind}"
    assert emulator.proxy is not None
    emulator.proxy.inject(Fault(kind, charge_succeeded(reference)))
    execution = emulator.run("charge", {"reference": reference})
    assert execution.status == "SUCCEEDED"
    assert execution.result == {
        "charged": f"charged {reference}",
        "receipt": f"receipt for charged {reference}",
    }
    assert len(emulator.endpoint.invocations_of(execution.arn)) == 1
    calls = emulator.proxy.calls(execution.arn, "checkpoint")
    broken = next(i for i, call in enumerate(calls) if call.fault == kind)
    retry = calls[broken + 1]
    for member in ("ClientToken", "CheckpointToken", "Updates"):
        assert retry.body[member] == calls[broken].body[member], member
    assert len(execution.events("StepSucceeded", "charge")) == 1


def test_a_stale_checkpoint_token_makes_lambda_retry_the_invocation(emulator: Emulator):
    """A checkpoint refused for a stale token ends the invocation in error; the retry completes."""
    reference = "ref-stale-token"
    assert emulator.proxy is not None
    emulator.proxy.inject(Fault("stale-token", charge_succeeded(reference)))
    execution = emulator.run("charge", {"reference": reference})
    assert execution.status == "SUCCEEDED"
    assert execution.result == {
        "charged": f"charged {reference}",
        "receipt": f"receipt for charged {reference}",
    }
    refused, retried = emulator.endpoint.invocations_of(execution.arn)
    assert refused.returncode == 1
    assert refused.output["errorType"] == "CheckpointError"
    assert "Invalid checkpoint token" in refused.output["errorMessage"]
    assert retried.returncode == 0
    assert len(execution.events("StepSucceeded", "charge")) == 1
