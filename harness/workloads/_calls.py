"""How a workload's calls reach the outside world, shared by every SUT adapter.

- LLM calls go through the official ``openai`` SDK, as real agents do. The SDK's own retries are
  off (``max_retries=0``): a retry is a new billed request, so it belongs to the durable step's
  retry policy where the history can see it, not hidden inside the SDK.
- Attribution headers tell the provider's ledger whose call it is (workflow, logical step,
  attempt = the runtime's fencing epoch, executor). A request's ``tokens_per_second`` travels as
  the ``X-Durabench-Tokens-Per-Second`` header (the provider's simulated speed for that call).
- Tools are local and deterministic; ``search`` sleeps ``latency_s`` to stand in for a slow API
  and returns ``result_tokens`` words, so the agent's context grows turn by turn.
- Every tool execution is announced to the provider's tool log before it runs (``POST /v1/tools``
  with the attribution headers) and reported when it returns, so a re-executed tool is visible in
  the history as harness evidence. The announcement is part of the call, like a remote search
  API's request: when the provider cannot be reached the tool fails and the durable step's retry
  policy takes over. The report of its end is best effort. A provider without a tool log (404, an
  image built before it existed) lets the tool run unrecorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import openai

from harness.workloads._context import JSON, LlmReply, LlmRequest

HEADER_WORKFLOW = "X-Durabench-Workflow-Id"
HEADER_STEP = "X-Durabench-Step"
HEADER_ATTEMPT = "X-Durabench-Attempt"
HEADER_EXECUTOR = "X-Durabench-Executor"
HEADER_TOKENS_PER_SECOND = "X-Durabench-Tokens-Per-Second"

LLM_TIMEOUT_S = float(os.environ.get("DURABENCH_LLM_TIMEOUT_S", "30"))
"""Per request. A hung provider call fails after this and the step's retry policy takes over."""

OOM_ARM_ENV = "DURABENCH_OOM_ARM_FILE"
"""Set by the oom fault on its trial's workers: a file whose appearance makes the running tool
allocate that many MiB (and which the tool removes first, so only one worker ever does)."""

POISON_ENV = "DURABENCH_POISON_FILE"
"""Set by the poison fault on its trial's workers: a JSON file ``{"workflow_id", "step"}``
whose presence makes every execution of that workflow's tool at that logical step SIGKILL its own
worker's process group once the execution is announced (a poison input: each attempt dies)."""


class GarbageResponseError(RuntimeError):
    """The provider answered something that is not a usable chat completion."""


def attribution(workflow_id: str, step: int, attempt: int, executor: str) -> dict[str, str]:
    return {
        HEADER_WORKFLOW: workflow_id,
        HEADER_STEP: str(step),
        HEADER_ATTEMPT: str(attempt),
        HEADER_EXECUTOR: executor,
    }


@lru_cache(maxsize=4)
def _client(provider_url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=provider_url.rstrip("/") + "/v1",
        api_key="durabench-mock",
        max_retries=0,
        timeout=LLM_TIMEOUT_S,
    )


def call_llm(
    provider_url: str, step: int, request: LlmRequest, headers: Mapping[str, str]
) -> LlmReply:
    """One chat completion; returns the JSON a durable step records."""
    extra_headers = dict(headers)
    if "tokens_per_second" in request:
        extra_headers[HEADER_TOKENS_PER_SECOND] = f"{float(request['tokens_per_second']):g}"
    kwargs: dict[str, Any] = {
        "model": request.get("model", "mock-gpt-4o"),
        "messages": request["messages"],
        "extra_headers": extra_headers,
    }
    if "tools" in request:
        kwargs["tools"] = request["tools"]
    if "max_tokens" in request:
        kwargs["max_tokens"] = request["max_tokens"]
    completion = _client(provider_url).chat.completions.create(**kwargs)
    if not completion.choices or completion.usage is None:
        raise GarbageResponseError(
            f"provider at {provider_url} answered step {step} without choices or usage: "
            f"{completion.model_dump_json()[:200]}"
        )
    message = completion.choices[0].message
    tool_calls = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
        for c in (message.tool_calls or [])
        if c.type == "function"
    ]
    return LlmReply(
        step=step,
        content=message.content,
        tool_calls=tool_calls,
        nonce=completion.id.removeprefix("chatcmpl-"),
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
    )


TOOL_RECORD_TIMEOUT_S = 10.0
"""Announcing a tool execution: like posting an effect."""
TOOL_FINISH_TIMEOUT_S = 2.0
"""Reporting its end is best effort: a black-holed provider link must not hold the step long."""


def run_tool(name: str, arguments: Mapping[str, JSON], latency_s: float, result_tokens: int,
             *, provider_url: str | None = None, headers: Mapping[str, str] | None = None) -> str:
    """A deterministic local tool: same arguments, same answer.

    With ``provider_url`` and the attribution ``headers`` (what every SUT adapter should pass),
    the execution is recorded in the provider's tool log (module docstring); without them it runs
    unrecorded, and the history cannot see it.
    """
    if name != "search":
        raise ValueError(f"unknown tool {name!r}; the workloads only define 'search'")
    if provider_url is None or headers is None:
        return _search(arguments, latency_s, result_tokens)
    base = provider_url.rstrip("/")
    started = httpx.post(f"{base}/v1/tools", json={"name": name}, headers=dict(headers),
                         timeout=TOOL_RECORD_TIMEOUT_S)
    if started.status_code == 404:  # a provider older than the tool log (e.g. a stale image)
        return _search(arguments, latency_s, result_tokens)
    started.raise_for_status()
    execution_id = str(started.json()["execution_id"])
    _die_if_poisoned(headers)
    ok = False
    try:
        result = _search(arguments, latency_s, result_tokens)
        ok = True
        return result
    finally:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{base}/v1/tools/{execution_id}/finish", json={"ok": ok},
                       timeout=TOOL_FINISH_TIMEOUT_S)


def _die_if_poisoned(headers: Mapping[str, str]) -> None:
    """SIGKILL this worker's process group when the poison file names this workflow and step:
    the real signal a crash takes the worker down with, on every attempt that gets here."""
    poison = os.environ.get(POISON_ENV)
    if not poison:
        return
    try:
        target = json.loads(Path(poison).read_text())
    except (FileNotFoundError, ValueError):
        return
    if (target.get("workflow_id") == headers.get(HEADER_WORKFLOW)
            and str(target.get("step")) == headers.get(HEADER_STEP)):
        os.killpg(os.getpgrp(), signal.SIGKILL)
        # Still here only as a PID namespace's init (a worker container's python, PID 1), which
        # the kernel does not let its own namespace SIGKILL: end the same way, with nothing run.
        os._exit(128 + signal.SIGKILL)


def _search(arguments: Mapping[str, JSON], latency_s: float, result_tokens: int) -> str:
    deadline = time.monotonic() + latency_s
    arm = os.environ.get(OOM_ARM_ENV)
    while True:
        if arm:
            _hog_if_armed(arm)
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(left, 0.01) if arm else left)
    seed = hashlib.sha256(repr(sorted(arguments.items())).encode()).hexdigest()
    words = [f"r{seed[(i * 2) % 60 : (i * 2) % 60 + 4]}" for i in range(result_tokens)]
    return " ".join(words)


def _hog_if_armed(arm: str) -> None:
    """Allocate and touch the MiB the arm file asks for: the memory-hungry tool of the oom fault."""
    try:
        mib = int(Path(arm).read_text().strip() or "0")
        os.unlink(arm)
    except (FileNotFoundError, ValueError):
        return
    hog = [b"x" * (1 << 20) for _ in range(mib)]  # bytes literals touch every page
    del hog


class EffectFencedError(Exception):
    """The effect sink refused an effect: a newer epoch of its workflow was announced (fenced)."""

    def __init__(self, workflow_id: str | None, attempt: str | None, fence: int | None) -> None:
        super().__init__(
            f"the effect sink refused workflow {workflow_id!r}'s effect from epoch {attempt}: "
            f"epoch {fence} owns the workflow now (this execution is superseded)"
        )
        self.fence = fence


def post_effect(
    provider_url: str, name: str, key: str, payload: JSON, headers: Mapping[str, str]
) -> bool:
    """Deliver a side effect to the provider's effect sink; True when it was applied, False for a
    duplicate key; :class:`EffectFencedError` when the sink refused it because a newer epoch of the
    workflow was announced (``announce_fences``)."""
    workflow_id = headers.get(HEADER_WORKFLOW)
    response = _sink(provider_url).post(
        "/v1/effects",
        json={"key": key, "name": name, "workflow_id": workflow_id, "payload": payload},
        headers=dict(headers),
        timeout=10.0,
    )
    response.raise_for_status()
    body = response.json()
    if body.get("fenced"):
        raise EffectFencedError(workflow_id, headers.get(HEADER_ATTEMPT), body.get("fence"))
    return bool(body.get("applied"))


def announce_fences(
    provider_url: str, fences: Sequence[tuple[str, int]], *, timeout_s: float = 10.0
) -> None:
    """Tell the effect sink that each ``(workflow_id, epoch)`` now owns its workflow: from then on
    it refuses that workflow's effects from lower epochs. Raises ``httpx.HTTPError`` when the sink
    did not take it (the caller's claim must then not take effect)."""
    if not fences:
        return
    response = _sink(provider_url).post(
        "/v1/effects/fence",
        json={"fences": [{"workflow_id": w, "epoch": e} for w, e in fences]},
        timeout=timeout_s,
    )
    response.raise_for_status()


@lru_cache(maxsize=4)
def _sink(provider_url: str) -> httpx.Client:
    """One kept-alive client per sink, for effects and announcements: a claim waits for its
    announcement, so neither may pay for a new client (an SSL context, ~30 ms) and connection."""
    return httpx.Client(base_url=provider_url.rstrip("/"))
