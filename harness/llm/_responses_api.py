"""The Responses API of the provider: ``POST /v1/responses``, ``GET /v1/responses/{id}``.

A Responses request is billed, ledgered, ruled (holds, hangs, fails, latency) and timed exactly
like a chat completion: it is translated into the chat request it stands for
(``_responses_format.py``) and goes through the chat path's code. One ``POST`` is one ledger
entry, whatever happens next; a ``GET`` is never billed and never ledgered as a call.

``POST /v1/responses`` without ``background`` answers like chat completions, in the request
(steps 1-5 of ``_server.py``), with a Response object. With ``"background": true``:

1. record the request as received and claim the control rules (a fail rule answers the ``POST``
   itself with its error, billed as on the chat path: the provider refused the request);
2. store a ``queued`` Response under ``resp_<nonce>`` and answer it at once;
3. in the provider, not in any request: wait at hold / hang gates (nobody is connected to a
   background response, so a hang is a hold), become ``in_progress``, generate and sleep the
   simulated generation time, record the bill (``responded``) and become ``completed`` (or
   ``incomplete`` when cut by ``max_output_tokens``, or ``failed`` on an error answer);
4. the first ``GET`` records the entry ``awaited`` (its caller now waits on it, ``_ledger.py``),
   the first from a newer attempt ``resumed``;
   the first ``GET`` that hands the finished Response to an open connection records the entry
   ``delivered`` (the ledger's third phase), so "delivered" keeps its meaning: the answer reached
   a caller -- the one that made the request or, after a crash, its successor.

``POST /v1/responses/{id}/cancel`` abandons a background response still waiting at a gate
(status 499, billed nothing, like a hung chat call whose client left); one already generating is
billed when it finishes, and is ``cancelled``.

Stored Responses (background, or ``store`` true, the default) are kept ``response_ttl_s`` seconds
from their creation (default 600, ``--response-ttl``), then dropped: a ``GET`` answers 404 as
OpenAI does for an unknown id, and an entry never delivered is settled ``delivered`` false. The
store is in memory: a restarted provider holds none, the honest "the provider dropped it" case.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from harness.llm._response_store import StoredResponse
from harness.llm._responses import (
    HEADER_NONCE,
    Attribution,
    ChatRequest,
    ChatRequestError,
    Reply,
    attribution_from_headers,
    failure_reply,
    parse_chat_request,
    speed_from_headers,
)
from harness.llm._responses_format import (
    ResponseStatus,
    not_found_body,
    response_body,
    translate_request,
)
from harness.llm._rules import CallPlan
from harness.llm._server import (
    ABANDONED_STATUS,
    _answer,
    _generate,
    _model_hint,
    _pass_gates,
    _write,
)
from harness.llm._state import PROVIDER_STATE, ProviderState, json_response


def _expire(state: ProviderState) -> None:
    for stored in state.responses.expire():
        if stored.task is not None:
            stored.task.cancel()
        if not stored.delivered:
            state.ledger.record_settled(stored.request_id, delivered=False)


def _completion_status(reply: Reply) -> tuple[ResponseStatus, dict[str, Any] | None]:
    if reply.status == 200:
        return "completed", None
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return "failed", {"code": (error or {}).get("code") or "server_error",
                      "message": (error or {}).get("message") or f"status {reply.status}"}


def _finished_body(response_id: str, chat: ChatRequest, created: int, background: bool,
                   reply: Reply) -> dict[str, Any]:
    status, error = _completion_status(reply)
    completion = dict(reply.body) if status == "completed" else None
    return response_body(response_id, model=chat.model, created_at=created,
                         background=background, status=status, completion=completion,
                         error=error)


def _bill(state: ProviderState, entry: dict[str, Any], reply: Reply) -> None:
    price = state.config.prices.get(entry["model"])
    cost = price.cost_usd(reply.prompt_tokens, reply.completion_tokens) if price else 0.0
    state.ledger.record_responded(
        entry["request_id"], status=reply.status, prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens, cost_usd=cost,
    )


@dataclass(frozen=True)
class _Call:
    """One admitted Responses request: what the chat path needs to answer it."""

    state: ProviderState
    entry: dict[str, Any]
    chat: ChatRequest
    attribution: Attribution
    nonce: str
    plan: CallPlan
    speed: float | None
    created: int

    @property
    def response_id(self) -> str:
        return f"resp_{self.nonce}"

    async def generate(self) -> Reply:
        """Generate on a thread, then sleep the latency and the simulated generation time."""
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(
            None, _generate, self.state, self.chat, self.attribution, self.nonce, self.plan
        )
        delay = self.state.generation_delay_s(reply.completion_tokens, self.speed)
        await asyncio.sleep(self.plan.latency_s + delay)
        return reply


async def _run_in_background(call: _Call, stored: StoredResponse) -> None:
    for gate in call.plan.gates:
        await gate.released.wait()
    if stored.body["status"] == "cancelled":
        return
    stored.body["status"] = "in_progress"
    reply = await call.generate()
    _bill(call.state, call.entry, reply)
    if stored.body["status"] != "cancelled":
        stored.body = _finished_body(call.response_id, call.chat, call.created, True, reply)


async def _admit(request: web.Request) -> _Call | web.StreamResponse:
    """Steps 1 of ``_server.py`` for a Responses request: parse, record received, claim rules."""
    state = request.app[PROVIDER_STATE]
    body = await request.read()
    nonce = state.next_nonce()
    attribution, chat, invalid, speed, background = Attribution(), None, None, None, False
    try:
        attribution = attribution_from_headers(request.headers)
        speed = speed_from_headers(request.headers)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ChatRequestError(400, f"We could not parse the JSON body of your request "
                                   f"({exc}).", type="invalid_request_error") from None
        translated = translate_request(data)
        background = translated.background
        chat = parse_chat_request(json.dumps(translated.chat_body).encode(), state.config.prices)
    except ChatRequestError as exc:
        invalid = exc
    entry = state.ledger.record_received(
        workflow_id=attribution.workflow_id, step=attribution.step, attempt=attribution.attempt,
        executor=attribution.executor, model=chat.model if chat else _model_hint(body), nonce=nonce,
        background=background and invalid is None,
    )
    if invalid is not None or chat is None:
        assert invalid is not None
        return await _answer(request, state, entry, Reply(invalid.status, invalid.body(), {}))
    plan = state.rules.claim(attribution.workflow_id, entry["call"], attribution.step)
    if plan.fail is not None:
        assert plan.fail.status is not None
        return await _answer(request, state, entry,
                             failure_reply(plan.fail.status, chat, plan.fail.retry_after_s))
    call = _Call(state, entry, chat, attribution, nonce, plan, speed, int(time.time()))
    if background:
        stored = state.responses.put(call.response_id, response_body(
            call.response_id, model=chat.model, created_at=call.created, background=True,
            status="queued"), entry["request_id"], attribution.attempt)
        stored.task = asyncio.get_running_loop().create_task(_run_in_background(call, stored))
        return json_response(200, stored.body, {HEADER_NONCE: nonce})
    return call


async def create_response(request: web.Request) -> web.StreamResponse:
    state = request.app[PROVIDER_STATE]
    _expire(state)
    admitted = await _admit(request)
    if not isinstance(admitted, _Call):
        return admitted
    call = admitted
    if not await _pass_gates(request, call.plan):
        state.ledger.record_responded(call.entry["request_id"], status=ABANDONED_STATUS,
                                      prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        state.ledger.record_settled(call.entry["request_id"], delivered=False)
        return web.Response(status=ABANDONED_STATUS)
    reply = await call.generate()
    _bill(state, call.entry, reply)
    if reply.status != 200:
        response, delivered = await _write(request, reply)
    else:
        body = _finished_body(call.response_id, call.chat, call.created, False, reply)
        stored = state.responses.put(call.response_id, body, call.entry["request_id"],
                                     call.attribution.attempt)
        response, delivered = await _write(request, Reply(200, body, {HEADER_NONCE: call.nonce}))
        stored.delivered = delivered
    state.ledger.record_settled(call.entry["request_id"], delivered=delivered)
    return response


def _attempt(request: web.Request) -> int | None:
    try:
        return attribution_from_headers(request.headers).attempt
    except ChatRequestError:
        return None


async def retrieve_response(request: web.Request) -> web.StreamResponse:
    """``GET /v1/responses/{id}``: the stored Response, never billed; 404 once dropped."""
    state = request.app[PROVIDER_STATE]
    _expire(state)
    response_id = request.match_info["response_id"]
    stored = state.responses.get(response_id)
    if stored is None:
        return json_response(404, not_found_body(response_id))
    nonce = response_id.removeprefix("resp_")
    if not stored.awaited:
        stored.awaited = True
        state.ledger.record_awaited(stored.request_id)
    attempt = _attempt(request)
    if (not stored.resumed and attempt is not None and stored.attempt is not None
            and attempt > stored.attempt):
        stored.resumed = True
        state.ledger.record_resumed(stored.request_id, attempt)
    if not stored.finished or stored.delivered or stored.body["status"] == "cancelled":
        return json_response(200, stored.body, {HEADER_NONCE: nonce})
    response, delivered = await _write(request, Reply(200, stored.body, {HEADER_NONCE: nonce}))
    if delivered and not stored.delivered:
        stored.delivered = True
        state.ledger.record_settled(stored.request_id, delivered=True)
    return response


async def cancel_response(request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses/{id}/cancel``: a background response still ``queued`` (waiting at a
    hold or hang) is abandoned -- status 499, billed nothing, as a hung chat call whose client
    left; one already generating is still billed when it finishes. Answers the Response."""
    state = request.app[PROVIDER_STATE]
    response_id = request.match_info["response_id"]
    stored = state.responses.get(response_id)
    if stored is None:
        return json_response(404, not_found_body(response_id))
    if stored.body["status"] == "queued":
        state.ledger.record_responded(stored.request_id, status=ABANDONED_STATUS,
                                      prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        state.ledger.record_settled(stored.request_id, delivered=False)
    if not stored.finished:
        stored.body["status"] = "cancelled"
    return json_response(200, stored.body)


def add_responses_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", create_response)
    app.router.add_get("/v1/responses/{response_id}", retrieve_response)
    app.router.add_post("/v1/responses/{response_id}/cancel", cancel_response)
