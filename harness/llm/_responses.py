"""Pure building of the provider's answers: parse a chat request, build a completion or an error.

No I/O and no clocks here (``created`` and ``nonce`` are passed in), so the aiohttp server and the
respx fixture share exactly this code. The server's lifecycle for one request is:

1. :func:`attribution_from_headers` and :func:`parse_chat_request` (errors raise
   :class:`ChatRequestError`);
2. control rules (hold / hang / fail / latency) — server only;
3. :func:`build_completion` (or :func:`failure_reply` for a fail rule);
4. billing: :func:`billed_tokens` says what a status costs.

Unscripted answers (no script): when the request has ``tools`` and ``tool_choice`` is not
``"none"``, one tool call to the first tool (or the one ``tool_choice`` names) with arguments
``{"query": "query for step <X-Durabench-Step>"}`` (``"query for turn <assistant messages>"``
without the header) and finish_reason ``tool_calls``; otherwise a final answer whose content is
``completion_tokens`` words, the second of which is the nonce. ``completion_tokens`` is the
request's ``max_tokens`` / ``max_completion_tokens`` when given, else 32; finish_reason ``stop``.

Scripted answers: see ``_script.py``. When ``max_tokens`` is below the turn's completion tokens the
answer is cut: ``completion_tokens = max_tokens``, finish_reason ``length``, tool calls dropped.

The model's ``max_output_tokens`` (price table) bounds everything: a larger ``max_tokens`` is a 400
(``param: max_tokens``, ``code: invalid_value``, as OpenAI answers), and a scripted turn longer than
the limit is cut at it like a ``max_tokens`` cut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.llm._prices import PriceTable
from harness.llm._script import FinishReason, Script, ScriptedToolCall, ScriptedTurn
from harness.llm._tokenizer import count_prompt_tokens, count_text_tokens

HEADER_WORKFLOW_ID = "X-Durabench-Workflow-Id"
HEADER_STEP = "X-Durabench-Step"
HEADER_ATTEMPT = "X-Durabench-Attempt"
HEADER_EXECUTOR = "X-Durabench-Executor"
HEADER_NONCE = "X-Durabench-Nonce"
HEADER_TOKENS_PER_SECOND = "X-Durabench-Tokens-Per-Second"
"""Optional: the generation speed to simulate for this one request (overrides the provider's
``--tokens-per-second``). Time-compressed workloads send it (see harness/workloads/_timing.py)."""
DEFAULT_COMPLETION_TOKENS = 32
NONCE_LENGTH = 16
_FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")


class ChatRequestError(Exception):
    """An OpenAI-style error answer, raised by the pure code and turned into a response by the
    caller (server or respx fixture)."""

    def __init__(
        self, status: int, message: str, *, type: str, code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


def error_body(
    message: str, *, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """The OpenAI error schema: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def nonce_for(seed: int, counter: int) -> str:
    """The ``counter``-th nonce of a provider seeded with ``seed``: 16 hex chars, deterministic."""
    return hashlib.sha256(f"durabench:{seed}:{counter}".encode()).hexdigest()[:NONCE_LENGTH]


@dataclass(frozen=True)
class Attribution:
    """Who made an LLM request, from the ``X-Durabench-*`` headers (all optional)."""

    workflow_id: str | None = None
    step: int | None = None
    attempt: int | None = None
    executor: str | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ChatRequestError(
            400, f"header {name} must be an integer, got {raw!r}",
            type="invalid_request_error", code="invalid_header", param=name,
        ) from None


def attribution_from_headers(headers: Mapping[str, str]) -> Attribution:
    """Read the attribution headers (``headers`` must be case-insensitive, as aiohttp's and
    httpx's are)."""
    return Attribution(
        workflow_id=headers.get(HEADER_WORKFLOW_ID) or None,
        step=_int_header(headers, HEADER_STEP),
        attempt=_int_header(headers, HEADER_ATTEMPT),
        executor=headers.get(HEADER_EXECUTOR) or None,
    )


def speed_from_headers(headers: Mapping[str, str]) -> float | None:
    """The request's ``X-Durabench-Tokens-Per-Second`` (a positive number), None when absent."""
    raw = headers.get(HEADER_TOKENS_PER_SECOND)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ChatRequestError(
            400, f"header {HEADER_TOKENS_PER_SECOND} must be a positive number, got {raw!r}",
            type="invalid_request_error", code="invalid_header", param=HEADER_TOKENS_PER_SECOND,
        )
    return value


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat-completions request the provider looks at."""

    model: str
    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    tool_choice: Any
    max_tokens: int | None
    prompt_tokens: int
    max_output_tokens: int = 16_384

    @property
    def assistant_messages(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "assistant")


def _bad_request(message: str, param: str | None = None) -> ChatRequestError:
    return ChatRequestError(400, message, type="invalid_request_error", param=param)


def _json_object(body: bytes) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad_request(
            f"We could not parse the JSON body of your request ({exc}). "
            "Send a JSON object with 'model' and 'messages'."
        ) from None
    if not isinstance(data, Mapping):
        raise _bad_request("The request body must be a JSON object with 'model' and 'messages'.")
    return data


def _max_tokens(data: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _bad_request(f"'{key}' must be a positive integer, got {value!r}", key)
            return value
    return None


def _messages(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad_request("'messages' must be a non-empty list of message objects", "messages")
    if not all(isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in messages):
        raise _bad_request("every message must be an object with a string 'role'", "messages")
    return tuple(messages)


def parse_chat_request(body: bytes, prices: PriceTable) -> ChatRequest:
    """Validate a ``POST /v1/chat/completions`` body; raises :class:`ChatRequestError`."""
    data = _json_object(body)
    if data.get("stream"):
        raise _bad_request(
            "Streaming is not supported by the durabench mock provider; send 'stream': false.",
            "stream",
        )
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _bad_request("you must provide a 'model' parameter", "model")
    messages = _messages(data)
    if model not in prices:
        raise ChatRequestError(
            404,
            f"The model `{model}` does not exist or you do not have access to it. "
            f"Known models: {', '.join(sorted(prices))}.",
            type="invalid_request_error", code="model_not_found", param="model",
        )
    limit = prices[model].max_output_tokens
    max_tokens = _max_tokens(data)
    if max_tokens is not None and max_tokens > limit:
        raise ChatRequestError(
            400,
            f"max_tokens is too large: {max_tokens}. This model supports at most {limit} "
            f"completion tokens, whereas you provided {max_tokens}.",
            type="invalid_request_error", code="invalid_value", param="max_tokens",
        )
    tools = data.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise _bad_request("'tools' must be a list of tool objects", "tools")
    return ChatRequest(
        model=model,
        messages=messages,
        tools=tuple(tools),
        tool_choice=data.get("tool_choice"),
        max_tokens=max_tokens,
        prompt_tokens=count_prompt_tokens(messages),
        max_output_tokens=limit,
    )


@dataclass(frozen=True)
class Completion:
    """A generated answer: the response body and what it bills."""

    body: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int


def _chosen_tool(request: ChatRequest) -> str | None:
    if not request.tools or request.tool_choice == "none":
        return None
    choice = request.tool_choice
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        return str(choice["function"].get("name"))
    function = request.tools[0].get("function")
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise _bad_request(
            "tools[0] must be {'type': 'function', 'function': {'name': ...}}", "tools"
        )
    return function["name"]


def _unscripted_turn(request: ChatRequest, attribution: Attribution, nonce: str) -> ScriptedTurn:
    tokens = request.max_tokens or DEFAULT_COMPLETION_TOKENS
    tool = _chosen_tool(request)
    if tool is not None:
        where = (
            f"step {attribution.step}" if attribution.step is not None
            else f"turn {request.assistant_messages}"
        )
        arguments = json.dumps({"query": f"query for {where}"})
        return ScriptedTurn(None, (ScriptedToolCall(tool, arguments),), tokens, "tool_calls")
    words = ["answer", nonce] + [_FILLER[i % len(_FILLER)] for i in range(max(tokens - 2, 0))]
    return ScriptedTurn(" ".join(words[:tokens]), (), tokens, "stop")


def _scripted_turn(request: ChatRequest, attribution: Attribution, script: Script) -> ScriptedTurn:
    index = attribution.step if attribution.step is not None else request.assistant_messages
    chosen_by = (
        f"{HEADER_STEP}: {attribution.step}" if attribution.step is not None
        else f"{request.assistant_messages} assistant messages in the request"
    )
    if not 0 <= index < len(script.turns):
        raise ChatRequestError(
            400,
            f"script exhausted: script {script.source} has {len(script.turns)} turns "
            f"(0..{len(script.turns) - 1}) but turn {index} was requested ({chosen_by}). "
            "Add turns to the script or check the workload's step numbering.",
            type="invalid_request_error", code="script_exhausted",
        )
    return script.turns[index]


def _turn_tokens(turn: ScriptedTurn) -> int:
    if turn.completion_tokens is not None:
        return turn.completion_tokens
    text = " ".join([turn.content or ""] + [f"{c.name} {c.arguments}" for c in turn.tool_calls])
    return max(count_text_tokens(text), 1)


def _message(turn: ScriptedTurn, nonce: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content, "refusal": None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{nonce}_{i}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(turn.tool_calls)
        ]
    return message


def build_completion(
    request: ChatRequest, attribution: Attribution, *, script: Script | None, nonce: str,
    created: int,
) -> Completion:
    """The chat completion for ``request``; raises :class:`ChatRequestError` (script exhausted)."""
    if script is None:
        turn = _unscripted_turn(request, attribution, nonce)
    else:
        turn = _scripted_turn(request, attribution, script)
    tokens = _turn_tokens(turn)
    default_finish: FinishReason = "tool_calls" if turn.tool_calls else "stop"
    finish = turn.finish_reason or default_finish
    cap = min(request.max_tokens or request.max_output_tokens, request.max_output_tokens)
    if cap < tokens:
        tokens, finish = cap, "length"
        turn = ScriptedTurn(turn.content or "", (), tokens, finish)
    body = {
        "id": f"chatcmpl-{nonce}",
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "system_fingerprint": f"fp_{nonce}",
        "choices": [
            {"index": 0, "message": _message(turn, nonce), "finish_reason": finish,
             "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": request.prompt_tokens,
            "completion_tokens": tokens,
            "total_tokens": request.prompt_tokens + tokens,
        },
    }
    return Completion(body=body, prompt_tokens=request.prompt_tokens, completion_tokens=tokens)


def billed_tokens(status: int, prompt_tokens: int, completion_tokens: int) -> tuple[int, int]:
    """What an answer with ``status`` bills: 200 in full, 500 the prompt only, anything else 0."""
    if status == 200:
        return prompt_tokens, completion_tokens
    if status == 500:
        return prompt_tokens, 0
    return 0, 0


_FAILURES: Mapping[int, tuple[str, str, str]] = {
    429: ("Rate limit reached for requests (injected by a durabench fail rule). "
          "Retry after the Retry-After delay.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request (injected by a durabench "
          "fail rule). Retry your request.", "server_error", "internal_error"),
    503: ("The engine is currently overloaded (injected by a durabench fail rule). "
          "Retry your request later.", "server_error", "service_unavailable"),
}


@dataclass(frozen=True)
class Reply:
    """A whole HTTP answer: status, JSON body, extra headers and what it bills."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    prompt_tokens: int = 0
    completion_tokens: int = 0


def failure_reply(status: int, request: ChatRequest, retry_after_s: float | None) -> Reply:
    """The answer of a fail rule (429/500/503), billed by :func:`billed_tokens`."""
    message, type_, code = _FAILURES.get(
        status, (f"Injected failure {status} (durabench fail rule).", "server_error", None)
    )
    headers = {}
    if status == 429:
        headers["Retry-After"] = f"{retry_after_s if retry_after_s is not None else 1.0:g}"
    prompt, completion = billed_tokens(status, request.prompt_tokens, 0)
    return Reply(status, error_body(message, type=type_, code=code), headers, prompt, completion)


def respond_to_chat(
    body: bytes, headers: Mapping[str, str], *, prices: PriceTable, script: Script | None,
    nonce: str, created: int,
) -> Reply:
    """The whole pure path with no control rules: what the server answers to this request."""
    try:
        attribution = attribution_from_headers(headers)
        request = parse_chat_request(body, prices)
        completion = build_completion(
            request, attribution, script=script, nonce=nonce, created=created
        )
    except ChatRequestError as exc:
        return Reply(exc.status, exc.body(), {})
    return Reply(
        200, completion.body, {HEADER_NONCE: nonce},
        completion.prompt_tokens, completion.completion_tokens,
    )


def models_body(prices: PriceTable, created: int = 0) -> dict[str, Any]:
    """``GET /v1/models``: the price table's models in the OpenAI list schema."""
    data = [
        {"id": model, "object": "model", "created": created, "owned_by": "durabench"}
        for model in sorted(prices)
    ]
    return {"object": "list", "data": data}
