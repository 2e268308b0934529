"""A ``received`` trigger naming a logical step, against a real provider: it holds and fires on
the step's first call whatever its call number (an earlier step's retry shifts the numbers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from llm_provider_support import USER, openai_client

from harness.llm import ProviderClient, ProviderProcess
from harness.triggers import Trigger, TriggerContext


def test_a_step_trigger_fires_on_the_steps_first_call_after_a_retried_step(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    for step in (0, 1, 1):  # step 1 called twice, as a runtime's retry of a timed-out attempt
        openai_client(provider.url, workflow_id, step=step).chat.completions.create(
            model="mock-gpt-4o", messages=USER)
    trigger = Trigger("received", step=2)
    ctx = TriggerContext(provider=client, sut=cast(Any, None), workflow_id=workflow_id)
    trigger.arm(ctx)
    try:
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(openai_client(provider.url, workflow_id, step=2)
                               .chat.completions.create, model="mock-gpt-4o", messages=USER)
            fired = trigger.wait(ctx, timeout_s=10.0)
            assert not held.done()  # the call is held while the fault would land
            assert fired.detail == {"call": 4, "step": 2}  # call 4, not call 3 (= step + 1)
            trigger.after_inject(ctx)
            assert held.result(timeout=10.0).choices
    finally:
        trigger.disarm(ctx)
