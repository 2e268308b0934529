"""LLM calls through the Responses API in background mode: start, then wait by retrieving.

What a resumable LLM step needs from the provider, through the official ``openai`` SDK (its own
retries off, as in ``_calls.py``):

1. :func:`start_response` sends the workload's chat-shaped request as ``POST /v1/responses``
   with ``background: true`` and returns the response id at once (the provider generates it
   whether or not its caller lives on);
2. :func:`await_response` polls ``GET /v1/responses/{id}`` until the response is finished and
   returns the :class:`LlmReply` a durable step records; ``None`` when the provider no longer
   holds the response (404: expired, or the provider restarted), so the caller starts again;
3. :func:`cancel_response` when the caller gives up on a response (the LLM timeout passed).

A retrieve is never billed: the ledger holds one entry per started response. Messages are
translated item by item (a chat ``tool`` message is a ``function_call_output``, an assistant's
tool calls are ``function_call`` items), so a request costs the same prompt tokens as on the chat
path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import openai

from harness.workloads._calls import (
    HEADER_TOKENS_PER_SECOND,
    LLM_TIMEOUT_S,
    GarbageResponseError,
    _client,
)
from harness.workloads._context import LlmReply, LlmRequest

FINISHED = frozenset({"completed", "incomplete", "failed", "cancelled"})
POLL_FIRST_S = 0.01
POLL_MAX_S = 0.2


class ResponseFailedError(RuntimeError):
    """The provider finished a background response without an answer (failed or cancelled)."""


class ResponseNotReadyError(TimeoutError):
    """A background response was still unfinished after the wait bound."""


def responses_input(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Responses input items (see the module docstring)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id"),
                          "output": message.get("content") or ""})
            continue
        if message.get("content") is not None or not message.get("tool_calls"):
            items.append({"role": message["role"], "content": message.get("content") or ""})
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            items.append({"type": "function_call", "call_id": call.get("id"),
                          "name": function.get("name"), "arguments": function.get("arguments")})
    return items


def _responses_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "function", **dict(tool.get("function", {}))}


def start_response(provider_url: str, request: LlmRequest, headers: Mapping[str, str]) -> str:
    """Start a background response; returns its id (``resp_<nonce>``)."""
    extra_headers = dict(headers)
    if "tokens_per_second" in request:
        extra_headers[HEADER_TOKENS_PER_SECOND] = f"{float(request['tokens_per_second']):g}"
    kwargs: dict[str, Any] = {
        "model": request.get("model", "mock-gpt-4o"),
        "input": responses_input(request["messages"]),
        "background": True,
        "extra_headers": extra_headers,
    }
    if "tools" in request:
        kwargs["tools"] = [_responses_tool(t) for t in request["tools"]]
    if "max_tokens" in request:
        kwargs["max_output_tokens"] = request["max_tokens"]
    return str(_client(provider_url).responses.create(**kwargs).id)


def _reply(step: int, response: Any, provider_url: str) -> LlmReply:
    if response.status in ("failed", "cancelled"):
        raise ResponseFailedError(f"response {response.id} of step {step} ended "
                                  f"{response.status}: {response.error}")
    if response.usage is None:
        raise GarbageResponseError(f"provider at {provider_url} finished response {response.id} "
                                   f"of step {step} without usage")
    tool_calls = [{"id": item.call_id, "name": item.name, "arguments": item.arguments}
                  for item in response.output if item.type == "function_call"]
    return LlmReply(
        step=step,
        content=response.output_text or None,
        tool_calls=tool_calls,
        nonce=str(response.id).removeprefix("resp_"),
        prompt_tokens=response.usage.input_tokens,
        completion_tokens=response.usage.output_tokens,
    )


def cancel_response(provider_url: str, response_id: str, headers: Mapping[str, str]) -> None:
    """Best effort: tell the provider the caller gave up (a response still queued is then
    abandoned unbilled, like a chat call whose client left)."""
    with contextlib.suppress(openai.OpenAIError):
        _client(provider_url).responses.cancel(response_id, extra_headers=dict(headers))


def await_response(provider_url: str, step: int, response_id: str, headers: Mapping[str, str],
                   timeout_s: float = LLM_TIMEOUT_S) -> LlmReply | None:
    """Poll until the response is finished: its reply, or None when the provider does not hold
    it (404). :class:`ResponseNotReadyError` after ``timeout_s``; a failed or cancelled response
    raises :class:`ResponseFailedError`."""
    client = _client(provider_url)
    deadline = time.monotonic() + timeout_s
    pause = POLL_FIRST_S
    while True:
        try:
            response = client.responses.retrieve(response_id, extra_headers=dict(headers))
        except openai.NotFoundError:
            return None
        if response.status in FINISHED:
            return _reply(step, response, provider_url)
        if time.monotonic() + pause > deadline:
            raise ResponseNotReadyError(f"response {response_id} of step {step} still "
                                        f"{response.status} after {timeout_s:g}s")
        time.sleep(pause)
        pause = min(pause * 1.5, POLL_MAX_S)
