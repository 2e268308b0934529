"""The provider's aiohttp application and its serving loop.

Routes: ``POST /v1/chat/completions``, ``POST /v1/responses`` and ``GET /v1/responses/{id}`` (the
Responses API, ``_responses_api.py``), ``GET /v1/models``, ``GET /v1/ledger[?workflow_id=]``,
``POST|GET /v1/effects``, ``POST /v1/effects/fence`` (fencing tokens, ``_effects.py``),
``POST|GET /v1/tools`` (the tool log, ``_tools.py``), ``GET /healthz``, and the control API
(``_control.py``).

Attribution headers read from every chat request (all optional; a workload sends all four):
``X-Durabench-Workflow-Id``, ``X-Durabench-Step`` (logical step index, int),
``X-Durabench-Attempt`` (execution attempt = the runtime's fencing epoch, int),
``X-Durabench-Executor``. A non-integer step or attempt is a 400. Optional
``X-Durabench-Tokens-Per-Second`` sets this request's simulated generation speed (a time-compressed
workload sends it); a non-positive value is a 400. Answers carry ``X-Durabench-Nonce``.

One chat request, in order (see ``_ledger.py`` for the three ledger phases):

1. read the body, parse the attribution headers and the request (pure code in ``_responses.py``);
2. record it as received (even when it is invalid: it is billed 0);
3. claim the control rules; wait at hold / hang gates;
4. build the answer (completion, injected failure, or error), sleep ``latency_s`` plus
   ``completion_tokens / tokens_per_second`` (asyncio sleep);
5. record the bill (``responded``), then write the answer, then record ``delivered``.

The server runs with ``handler_cancellation=False``: a handler whose client disconnects keeps going
to step 5, so an answer that was generated is billed even when its worker was SIGKILLed.

What "delivered" means, honestly: the response head and body were handed to the connection's
transport without error, the transport was still open afterwards and its write buffer had drained
into the kernel. A client that dies after the kernel accepted the bytes still counts as delivered;
with a proxy (Toxiproxy) in between, delivered means delivered to the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from harness.llm._control import add_control_routes, browser_guard
from harness.llm._responses import (
    HEADER_NONCE,
    Attribution,
    ChatRequest,
    ChatRequestError,
    Reply,
    attribution_from_headers,
    build_completion,
    failure_reply,
    models_body,
    parse_chat_request,
    speed_from_headers,
)
from harness.llm._rules import CallPlan
from harness.llm._state import (
    PROVIDER_STATE,
    ProviderConfig,
    ProviderState,
    error_response,
    json_response,
)
from harness.llm._tools import add_tool_routes

WRITE_TIMEOUT_S = 30.0
ABANDONED_STATUS = 499


def _model_hint(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) else ""


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _write(request: web.Request, reply: Reply) -> tuple[web.StreamResponse, bool]:
    """Write ``reply``; returns the response and whether it was delivered (module docstring)."""
    data = json.dumps(reply.body).encode()
    response = web.StreamResponse(status=reply.status, headers=dict(reply.headers))
    response.content_type = "application/json"
    response.content_length = len(data)
    # One loop turn first: a vanished client's FIN is already queued and must be seen now.
    await asyncio.sleep(0)
    if _client_gone(request):
        return response, False
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.prepare(request)
            await response.write(data)
            await response.write_eof()
    except (OSError, TimeoutError):
        return response, False
    transport = request.transport
    if transport is None or transport.is_closing():
        return response, False
    return response, transport.get_write_buffer_size() == 0


async def _answer(
    request: web.Request, state: ProviderState, entry: dict[str, Any], reply: Reply
) -> web.StreamResponse:
    """Bill ``reply`` (phase 2), write it, record whether it was delivered (phase 3)."""
    price = state.config.prices.get(entry["model"])
    cost = price.cost_usd(reply.prompt_tokens, reply.completion_tokens) if price else 0.0
    state.ledger.record_responded(
        entry["request_id"], status=reply.status, prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens, cost_usd=cost,
    )
    response, delivered = await _write(request, reply)
    state.ledger.record_settled(entry["request_id"], delivered=delivered)
    return response


async def _pass_gates(request: web.Request, plan: CallPlan) -> bool:
    """Wait for every hold/hang gate; False when a hang was released after its client left."""
    for gate in plan.gates:
        await gate.released.wait()
    await asyncio.sleep(0)
    return not (any(g.action == "hang" for g in plan.gates) and _client_gone(request))


def _generate(
    state: ProviderState, chat: ChatRequest, attribution: Attribution, nonce: str, plan: CallPlan
) -> Reply:
    if plan.fail is not None:
        assert plan.fail.status is not None
        return failure_reply(plan.fail.status, chat, plan.fail.retry_after_s)
    try:
        completion = build_completion(
            chat, attribution, script=state.config.script, nonce=nonce, created=int(time.time())
        )
    except ChatRequestError as exc:
        return Reply(exc.status, exc.body(), {})
    return Reply(200, completion.body, {HEADER_NONCE: nonce}, completion.prompt_tokens,
                 completion.completion_tokens)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[PROVIDER_STATE]
    body = await request.read()
    nonce = state.next_nonce()
    attribution, chat, invalid, speed = Attribution(), None, None, None
    try:
        attribution = attribution_from_headers(request.headers)
        speed = speed_from_headers(request.headers)
        chat = parse_chat_request(body, state.config.prices)
    except ChatRequestError as exc:
        invalid = exc
    entry = state.ledger.record_received(
        workflow_id=attribution.workflow_id, step=attribution.step, attempt=attribution.attempt,
        executor=attribution.executor, model=chat.model if chat else _model_hint(body), nonce=nonce,
    )
    if invalid is not None or chat is None:
        assert invalid is not None
        return await _answer(request, state, entry, Reply(invalid.status, invalid.body(), {}))
    plan = state.rules.claim(attribution.workflow_id, entry["call"], attribution.step)
    if not await _pass_gates(request, plan):
        state.ledger.record_responded(entry["request_id"], status=ABANDONED_STATUS,
                                      prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        state.ledger.record_settled(entry["request_id"], delivered=False)
        return web.Response(status=ABANDONED_STATUS)
    # In a thread: however long the answer (capped at the model's limit), the loop keeps serving.
    loop = asyncio.get_running_loop()
    reply = await loop.run_in_executor(None, _generate, state, chat, attribution, nonce, plan)
    await asyncio.sleep(plan.latency_s + state.generation_delay_s(reply.completion_tokens, speed))
    return await _answer(request, state, entry, reply)


async def models(request: web.Request) -> web.Response:
    return json_response(200, models_body(request.app[PROVIDER_STATE].config.prices))


async def ledger(request: web.Request) -> web.Response:
    workflow_id = request.query.get("workflow_id")
    return json_response(200, {"entries": request.app[PROVIDER_STATE].ledger.entries(workflow_id)})


async def post_effect(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read())
        attribution = attribution_from_headers(request.headers)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error_response(400, f"invalid JSON body: {exc}")
    except ChatRequestError as exc:
        return json_response(exc.status, exc.body())
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) \
            or not isinstance(data.get("name"), str):
        return error_response(400, 'an effect needs {"key": str, "name": str, ...}', param="key")
    workflow_id = data.get("workflow_id", attribution.workflow_id)
    if not isinstance(workflow_id, str):
        workflow_id = None
    await request.app[PROVIDER_STATE].effect_gate.passage(workflow_id, attribution.attempt)
    record = request.app[PROVIDER_STATE].effects.deliver(
        key=data["key"], name=data["name"], payload=data.get("payload"),
        workflow_id=workflow_id, executor=attribution.executor, attempt=attribution.attempt,
    )
    if record["fenced"]:
        fence = request.app[PROVIDER_STATE].effects.fence_of(record["workflow_id"])
        return json_response(200, {"applied": False, "fenced": True, "fence": fence})
    return json_response(200, {"applied": True} if record["applied"]
                         else {"applied": False, "duplicate": True})


async def post_effect_fence(request: web.Request) -> web.Response:
    """Announce new owners' epochs: ``{"fences": [{"workflow_id": str, "epoch": int}]}``."""
    try:
        data = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error_response(400, f"invalid JSON body: {exc}")
    fences = data.get("fences") if isinstance(data, dict) else None
    if not isinstance(fences, list) or not all(
            isinstance(f, dict) and isinstance(f.get("workflow_id"), str)
            and isinstance(f.get("epoch"), int) and not isinstance(f.get("epoch"), bool)
            for f in fences):
        return error_response(400, 'a fence announcement needs {"fences": [{"workflow_id": str, '
                                   '"epoch": int}, ...]}', param="fences")
    state = request.app[PROVIDER_STATE]
    now = state.effects.fence((f["workflow_id"], f["epoch"]) for f in fences)
    for f in fences:
        await state.fence_gate.passage(f["workflow_id"], f["epoch"])
    return json_response(200, {"fences": now})


async def get_effects(request: web.Request) -> web.Response:
    workflow_id = request.query.get("workflow_id")
    return json_response(200, {"effects": request.app[PROVIDER_STATE].effects.records(workflow_id)})


async def healthz(request: web.Request) -> web.Response:
    return json_response(200, {"ok": True})


def build_app(config: ProviderConfig) -> web.Application:
    """The provider application; its state opens on startup and closes on cleanup."""
    app = web.Application(middlewares=[browser_guard])

    async def state_context(app: web.Application) -> AsyncIterator[None]:
        app[PROVIDER_STATE] = ProviderState(config)
        yield
        app[PROVIDER_STATE].close()

    app.cleanup_ctx.append(state_context)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1/ledger", ledger)
    app.router.add_post("/v1/effects", post_effect)
    app.router.add_post("/v1/effects/fence", post_effect_fence)
    app.router.add_get("/v1/effects", get_effects)
    app.router.add_get("/healthz", healthz)
    # Imported here: the Responses API builds on this module's chat path.
    from harness.llm._responses_api import add_responses_routes

    add_responses_routes(app)
    add_tool_routes(app, config.ledger_path)
    add_control_routes(app)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (port 0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    config: ProviderConfig, sock: socket.socket, *, announce: Callable[[str], None]
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT; ``announce(url)`` once connections are accepted."""
    runner = web.AppRunner(build_app(config), handler_cancellation=False, access_log=None)
    await runner.setup()
    try:
        site = web.SockSite(runner, sock, shutdown_timeout=1.0)
        await site.start()
        announce(url_of(sock))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
