"""Pure translation between the Responses API (``/v1/responses``) and the chat path's code.

No I/O and no clocks. A Responses request is translated into the chat request it stands for, so
that it is validated, answered, tokenized and billed by exactly the code of chat completions
(``_responses.py``); the chat completion that comes back is translated into a Response object.

Request, in order:
1. ``instructions`` (a string) becomes a leading ``system`` message;
2. ``input``: a string is one ``user`` message; a list holds messages (``{"role", "content"}``,
   with or without ``"type": "message"``; content a string or a list of ``input_text`` /
   ``output_text`` parts), ``function_call`` items (joined to the assistant message before them
   as its ``tool_calls``, or to a new one) and ``function_call_output`` items (``tool``
   messages). So a conversation written for chat completions and translated item by item costs
   the same prompt tokens on either path;
3. ``tools`` (``{"type": "function", "name", "parameters", ...}``) become chat tools,
   ``tool_choice`` likewise, ``max_output_tokens`` becomes ``max_tokens``;
4. ``background`` (bool, default false) and ``store`` (bool, default true; a background request
   needs it, as OpenAI's does) are returned beside the chat body.

Response: a ``message`` output item with one ``output_text`` part when the answer has content, a
``function_call`` item per tool call (``call_id`` = the chat tool call's id), usage as
``input_tokens`` / ``output_tokens``; an answer cut by ``max_output_tokens`` is ``incomplete``
with ``incomplete_details.reason = "max_output_tokens"``, as OpenAI answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.llm._responses import ChatRequestError

ResponseStatus = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"completed", "incomplete", "failed", "cancelled"})


def _bad(message: str, param: str | None = None) -> ChatRequestError:
    return ChatRequestError(400, message, type="invalid_request_error", param=param)


@dataclass(frozen=True)
class ResponsesRequest:
    """A ``POST /v1/responses`` body as the chat request it stands for."""

    chat_body: dict[str, Any]
    background: bool
    store: bool


def _content(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        return [{"type": "text", "text": p.get("text", "")} for p in content
                if isinstance(p, Mapping)]
    raise _bad("a message's 'content' must be a string or a list of content parts", "input")


def _messages(items: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise _bad("every input item must be an object", "input")
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("role"), str):
            messages.append({"role": item["role"], "content": _content(item.get("content"))})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id", "")), "type": "function",
                    "function": {"name": str(item.get("name", "")),
                                 "arguments": str(item.get("arguments", ""))}}
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id", "")),
                             "content": _content(item.get("output"))})
        else:
            raise _bad(f"input items of type {kind!r} are not supported by the durabench mock "
                       "provider (messages, function_call, function_call_output)", "input")
    return messages


def _tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or tool.get("type") != "function" \
            or not isinstance(tool.get("name"), str):
        raise _bad("tools must be {'type': 'function', 'name': ..., 'parameters': ...}", "tools")
    function = {k: v for k, v in tool.items() if k not in ("type", "strict")}
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _flag(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"'{key}' must be a boolean, got {value!r}", key)
    return value


def translate_request(data: Any) -> ResponsesRequest:
    """The chat body a Responses request stands for; raises :class:`ChatRequestError`."""
    if not isinstance(data, Mapping):
        raise _bad("The request body must be a JSON object with 'model' and 'input'.")
    if data.get("stream"):
        raise _bad("Streaming is not supported by the durabench mock provider; send "
                   "'stream': false (or poll a background response).", "stream")
    if data.get("previous_response_id") is not None:
        raise _bad("'previous_response_id' is not supported by the durabench mock provider; "
                   "send the whole conversation as 'input'.", "previous_response_id")
    background, store = _flag(data, "background", False), _flag(data, "store", True)
    if background and not store:
        raise _bad("Background responses must be stored: send 'store': true (the default).",
                   "store")
    raw = data.get("input")
    if isinstance(raw, str):
        items: list[Any] = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and raw:
        items = raw
    else:
        raise _bad("'input' must be a string or a non-empty list of input items", "input")
    messages = _messages(items)
    instructions = data.get("instructions")
    if isinstance(instructions, str):
        messages.insert(0, {"role": "system", "content": instructions})
    body: dict[str, Any] = {"model": data.get("model"), "messages": messages}
    tools = data.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise _bad("'tools' must be a list of tool objects", "tools")
        body["tools"] = [_tool(t) for t in tools]
    if data.get("tool_choice") is not None:
        body["tool_choice"] = _tool_choice(data["tool_choice"])
    if data.get("max_output_tokens") is not None:
        body["max_tokens"] = data["max_output_tokens"]
    return ResponsesRequest(body, background, store)


def response_body(
    response_id: str, *, model: str, created_at: int, background: bool,
    status: ResponseStatus, completion: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Response object; ``completion`` (a chat completion body) fills output and usage."""
    body: dict[str, Any] = {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": background, "model": model, "output": [], "usage": None,
        "error": dict(error) if error is not None else None, "incomplete_details": None,
        "instructions": None, "metadata": {}, "parallel_tool_calls": True,
        "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
    }
    if completion is None:
        return body
    choice = completion["choices"][0]
    message, nonce = choice["message"], response_id.removeprefix("resp_")
    if message.get("content"):
        body["output"].append({
            "type": "message", "id": f"msg_{nonce}", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": message["content"], "annotations": []}],
        })
    for call in message.get("tool_calls") or []:
        body["output"].append({
            "type": "function_call", "id": f"fc_{call['id']}", "call_id": call["id"],
            "name": call["function"]["name"], "arguments": call["function"]["arguments"],
            "status": "completed",
        })
    usage = completion["usage"]
    body["usage"] = {
        "input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    if choice["finish_reason"] == "length":
        body["status"] = "incomplete"
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    return body


def not_found_body(response_id: str) -> dict[str, Any]:
    """OpenAI's answer to a response id it does not hold (never stored, expired, dropped)."""
    return {"error": {"message": f"Response with id '{response_id}' not found.",
                      "type": "invalid_request_error", "param": None, "code": None}}
