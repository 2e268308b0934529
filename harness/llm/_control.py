"""The control API: the harness's handle on faults and triggers (see ``_rules.py``).

- ``POST /control/rules``   add a rule -> ``{"rule_id"}``;
- ``GET /control/rules``    list the rules;
- ``DELETE /control/rules`` release and remove every rule;
- ``POST /control/release`` ``{"rule_id": ...}`` or ``{}`` for all: waiting calls continue;
- ``GET /control/wait?workflow_id=W&call=N&event=received|awaited|responded|delivered&timeout=S``
  long-poll: 200 with the merged ledger entry once the event happened (at once if it already has);
  ``step=K`` instead of ``call=N`` waits on the first call of logical step K, whatever its number;
  409 with the entry when ``event=delivered`` can no longer happen (answered, not delivered);
  408 on timeout (default 30 s, at most 600 s). Omitting ``workflow_id`` means calls sent without
  the workflow header.

Bad input is a 400 with an OpenAI-shaped error, never a 500 or a hang: bodies must be JSON objects
without ``NaN``/``Infinity``, ``rule_id`` a string, ``call`` an integer >= 0, ``timeout`` a finite
number >= 0. Like Toxiproxy's API, the provider answers 403 to anything that looks like a browser
(a ``User-Agent`` starting ``Mozilla/`` or an ``Origin`` header), so a web page cannot drive it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web

from harness.llm._effects import EffectGate, FenceGate
from harness.llm._ledger import LedgerEvent
from harness.llm._rules import rule_from_json
from harness.llm._state import PROVIDER_STATE, error_response, json_response

_EVENTS = ("received", "awaited", "responded", "delivered")
MAX_WAIT_S = 600.0


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a control request may carry")


async def _json_body(request: web.Request) -> Any:
    """The body as JSON (``{}`` when empty); ValueError (JSONDecodeError is one) when it is not
    JSON, or holds NaN / Infinity."""
    raw = await request.read()
    if not raw.strip():
        return {}
    return json.loads(raw, parse_constant=_no_constant)


def looks_like_a_browser(request: web.Request) -> bool:
    return request.headers.get("User-Agent", "").startswith("Mozilla/") or "Origin" in \
        request.headers


@web.middleware
async def browser_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """403 for browser-like requests (see the module docstring)."""
    if looks_like_a_browser(request):
        return error_response(403, "requests from browsers are not allowed (a User-Agent "
                              "starting Mozilla/ or an Origin header)", code="browser_rejected")
    return await handler(request)


async def add_rule(request: web.Request) -> web.Response:
    try:
        spec = rule_from_json(await _json_body(request))
    except (ValueError, TypeError) as exc:
        return error_response(400, f"invalid rule: {exc}")
    return json_response(200, {"rule_id": request.app[PROVIDER_STATE].rules.add(spec)})


async def list_rules(request: web.Request) -> web.Response:
    return json_response(200, {"rules": request.app[PROVIDER_STATE].rules.describe()})


async def reset_rules(request: web.Request) -> web.Response:
    request.app[PROVIDER_STATE].rules.reset()
    return json_response(200, {"reset": True})


async def release(request: web.Request) -> web.Response:
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return error_response(400, f"invalid JSON body: {exc}")
    if not isinstance(body, dict):
        return error_response(400, 'release takes {"rule_id": "<id>"}, or {} to release every '
                              f"rule; got {type(body).__name__}", param="rule_id")
    rule_id = body.get("rule_id")
    if rule_id is not None and not isinstance(rule_id, str):
        return error_response(400, f"'rule_id' must be a string (from POST /control/rules), "
                              f"got {rule_id!r}", param="rule_id")
    try:
        released = request.app[PROVIDER_STATE].rules.release(rule_id)
    except KeyError:
        return error_response(
            404, f"no rule {rule_id!r}; GET /control/rules lists the rules", code="rule_not_found"
        )
    return json_response(200, {"released": released})


def _wait_params(
    request: web.Request,
) -> tuple[str | None, int | None, int | None, LedgerEvent, float]:
    query = request.query
    if ("call" in query) == ("step" in query):
        raise ValueError("exactly one of 'call' and 'step' (int) is required")
    key = "call" if "call" in query else "step"
    try:
        number = int(query[key])
        timeout = float(query.get("timeout", "30"))
    except ValueError as exc:
        raise ValueError(f"'{key}' must be an integer and 'timeout' a number") from exc
    if number < 0 or not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"'{key}' must be >= 0 and 'timeout' a finite number of seconds >= 0, "
                         f"got {key}={number}, timeout={query.get('timeout')}")
    timeout = min(timeout, MAX_WAIT_S)
    event = query.get("event", "received")
    if event not in _EVENTS:
        raise ValueError(f"'event' must be one of {list(_EVENTS)}, got {event!r}")
    call, step = (number, None) if key == "call" else (None, number)
    return query.get("workflow_id") or None, call, step, cast(LedgerEvent, event), timeout


async def wait(request: web.Request) -> web.Response:
    try:
        workflow_id, call, step, event, timeout = _wait_params(request)
    except ValueError as exc:
        return error_response(400, f"invalid wait: {exc}")
    ledger = request.app[PROVIDER_STATE].ledger
    state, entry = await ledger.wait(workflow_id, call, event, timeout, step=step)
    which = f"call {call}" if call is not None else f"the first call of step {step}"
    if state == "happened":
        return json_response(200, entry)
    if state == "never":
        return json_response(409, {
            "error": {"message": f"{which} of workflow {workflow_id!r} was answered but "
                      "not delivered", "type": "not_delivered", "param": None, "code": None},
            "entry": entry,
        })
    return json_response(408, {
        "error": {"message": f"{which} of workflow {workflow_id!r} was not {event} within "
                  f"{timeout:g}s", "type": "timeout", "param": None, "code": None},
        "entry": entry,
    })


async def _workflow_id_of(request: web.Request) -> str | None:
    """The body's ``workflow_id`` (None when absent); ValueError for a bad body or a non-string."""
    body = await _json_body(request)
    workflow_id = body.get("workflow_id") if isinstance(body, dict) else None
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise ValueError(f"'workflow_id' must be a string, got {workflow_id!r}")
    return workflow_id


async def hold_fences(request: web.Request) -> web.Response:
    try:
        workflow_id = await _workflow_id_of(request)
    except ValueError as exc:
        workflow_id, problem = None, f"{exc}; "
    else:
        problem = ""
    if workflow_id is None:
        return error_response(400, f'{problem}holding fence announcements takes '
                              '{"workflow_id": str}', param="workflow_id")
    request.app[PROVIDER_STATE].fence_gate.hold(workflow_id)
    return json_response(200, {"held": workflow_id})


async def _release(request: web.Request, gate: FenceGate | EffectGate) -> web.Response:
    """Release what ``gate`` holds for the body's workflow (``{}``: for every one)."""
    try:
        workflow_id = await _workflow_id_of(request)
    except ValueError as exc:
        return error_response(400, f'{exc}; release takes {{"workflow_id": str}}, or {{}} for '
                              "every one", param="workflow_id")
    return json_response(200, {"released": gate.release(workflow_id)})


async def release_fences(request: web.Request) -> web.Response:
    return await _release(request, request.app[PROVIDER_STATE].fence_gate)


async def wait_fence(request: web.Request) -> web.Response:
    workflow_id = request.query.get("workflow_id")
    try:
        timeout = min(float(request.query.get("timeout", "30")), MAX_WAIT_S)
    except ValueError:
        timeout = math.nan
    if not workflow_id or not (math.isfinite(timeout) and timeout >= 0):
        return error_response(400, "wait for a fence takes ?workflow_id=<id>&timeout=<seconds>")
    epoch = await request.app[PROVIDER_STATE].fence_gate.wait_arrived(workflow_id, timeout)
    if epoch is None:
        return error_response(408, f"no held fence announcement for {workflow_id!r} within "
                              f"{timeout:g}s (hold it first: POST /control/fences/hold)",
                              type="timeout")
    return json_response(200, {"workflow_id": workflow_id, "epoch": epoch})


async def hold_effects(request: web.Request) -> web.Response:
    usage = 'holding effect deliveries takes {"workflow_id": str, "above": int}'
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return error_response(400, f"invalid JSON body: {exc}; {usage}")
    workflow_id = body.get("workflow_id") if isinstance(body, dict) else None
    above = body.get("above") if isinstance(body, dict) else None
    if not isinstance(workflow_id, str) or not isinstance(above, int) or isinstance(above, bool):
        return error_response(400, usage, param="workflow_id" if not isinstance(
            workflow_id, str) else "above")
    request.app[PROVIDER_STATE].effect_gate.hold(workflow_id, above)
    return json_response(200, {"held": workflow_id, "above": above})


async def release_effects(request: web.Request) -> web.Response:
    return await _release(request, request.app[PROVIDER_STATE].effect_gate)


def add_control_routes(app: web.Application) -> None:
    app.router.add_post("/control/effects/hold", hold_effects)
    app.router.add_post("/control/effects/release", release_effects)
    app.router.add_post("/control/fences/hold", hold_fences)
    app.router.add_post("/control/fences/release", release_fences)
    app.router.add_get("/control/fences/wait", wait_fence)
    app.router.add_post("/control/rules", add_rule)
    app.router.add_get("/control/rules", list_rules)
    app.router.add_delete("/control/rules", reset_rules)
    app.router.add_post("/control/release", release)
    app.router.add_get("/control/wait", wait)
