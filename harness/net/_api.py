"""The embedded server's HTTP API: Toxiproxy 2.x's routes, status codes and JSON shapes.

| route | methods | success |
| --- | --- | --- |
| ``/proxies`` | GET (name -> proxy), POST (create) | 200, 201 |
| ``/populate`` | POST (create or replace a list) | 201 ``{"proxies": [...]}`` |
| ``/proxies/{proxy}`` | GET, POST/PATCH (update), DELETE | 200, 200, 204 |
| ``/proxies/{proxy}/toxics`` | GET (list), POST (create) | 200, 200 |
| ``/proxies/{proxy}/toxics/{toxic}`` | GET, POST/PATCH (update), DELETE | 200, 200, 204 |
| ``/reset`` | POST (enable all proxies, remove all toxics) | 204 |
| ``/version`` | GET | 200 ``{"version": ...}`` |

Errors are ``{"error": message, "status": code}`` with Toxiproxy's messages: 400 bad request body /
missing required field / invalid stream / invalid toxic type, 404 proxy or toxic not found, 409
proxy or toxic already exists; a ``/populate`` whose body is rejected adds ``"proxies": null``,
one that fails part-way lists the proxies it made. Unknown routes answer 404
``404 page not found`` and known routes with another method 405 with no body, as Toxiproxy's
router does. Like Toxiproxy, requests from browsers (``User-Agent: Mozilla/...``)
get 403, so a web page cannot drive the API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import _apierror as errors
from ._collection import ProxyCollection, ProxySpec, proxy_json, toxic_json

VERSION = "2.12.0+durabench-embedded"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise errors.bad_body("EOF")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.bad_body(str(exc)) from exc


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise errors.bad_body(f"expected a JSON object, got {type(body).__name__}")
    return body


def _text(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise errors.bad_body(f"{key!r} must be a string, got {value!r}")
    return value


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise errors.bad_body(f"{key!r} must be a boolean, got {value!r}")
    return value


def _spec(body: dict[str, Any], where: str = "") -> ProxySpec:
    spec = ProxySpec(
        name=_text(body, "name"),
        listen=_text(body, "listen"),
        upstream=_text(body, "upstream"),
        enabled=_flag(body, "enabled", True),
    )
    if not spec.name:
        raise errors.missing_field("name" + where)
    if not spec.upstream:
        raise errors.missing_field("upstream" + where)
    return spec


async def _populate_specs(request: web.Request) -> list[ProxySpec]:
    body = await _body(request)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise errors.bad_body("expected a JSON array of proxies")
    return [_spec(item, f" at proxy {i + 1}") for i, item in enumerate(body)]


class Api:
    """Request handlers over one :class:`ProxyCollection`."""

    def __init__(self, proxies: ProxyCollection) -> None:
        self.proxies = proxies

    async def proxy_index(self, request: web.Request) -> web.Response:
        return _json({name: proxy_json(p) for name, p in self.proxies.all().items()})

    async def proxy_create(self, request: web.Request) -> web.Response:
        spec = _spec(await _object(request))
        async with self.proxies.lock:
            proxy = await self.proxies.add(spec)
        return _json(proxy_json(proxy), status=201)

    async def populate(self, request: web.Request) -> web.Response:
        try:
            specs = await _populate_specs(request)
        except errors.ApiError as exc:  # as Toxiproxy: nothing created, "proxies": null
            return _json({**exc.body(), "proxies": None}, status=exc.status)
        async with self.proxies.lock:
            done, failure = await self.proxies.populate(specs)
        payload: dict[str, Any] = {"proxies": [proxy_json(p) for p in done]}
        if failure is not None:
            payload = {**failure.body(), **payload}
            return _json(payload, status=failure.status)
        return _json(payload, status=201)

    async def proxy_show(self, request: web.Request) -> web.Response:
        return _json(proxy_json(self.proxies.get(request.match_info["proxy"])))

    async def proxy_update(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            body = await _object(request)
            await proxy.update(
                listen=_text(body, "listen", proxy.listen),
                upstream=_text(body, "upstream", proxy.upstream),
                enabled=_flag(body, "enabled", proxy.enabled),
            )
        return _json(proxy_json(proxy))

    async def proxy_delete(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            self.proxies.remove(request.match_info["proxy"])
        return web.Response(status=204)

    async def toxic_index(self, request: web.Request) -> web.Response:
        proxy = self.proxies.get(request.match_info["proxy"])
        return _json([toxic_json(entry) for entry in proxy.toxics()])

    async def toxic_create(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            entry = self.proxies.add_toxic(proxy, await _object(request))
        return _json(toxic_json(entry))

    async def toxic_show(self, request: web.Request) -> web.Response:
        proxy = self.proxies.get(request.match_info["proxy"])
        entry = proxy.find_toxic(request.match_info["toxic"])
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        return _json(toxic_json(entry))

    async def toxic_update(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            body = await _object(request)
            entry = self.proxies.update_toxic(proxy, request.match_info["toxic"], body)
        return _json(toxic_json(entry))

    async def toxic_delete(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            proxy = self.proxies.get(request.match_info["proxy"])
            entry = proxy.find_toxic(request.match_info["toxic"])
            if entry is None:
                raise errors.TOXIC_NOT_FOUND
            proxy.remove_toxic(entry)
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        async with self.proxies.lock:
            await self.proxies.reset()
        return web.Response(status=204)

    async def version(self, request: web.Request) -> web.Response:
        return _json({"version": VERSION})


@web.middleware
async def _errors_as_json(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return web.Response(status=403, text="User agent not allowed\n")
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return _json(exc.body(), status=exc.status)
    except web.HTTPMethodNotAllowed:  # Toxiproxy's router: 405 with an empty body
        return web.Response(status=405)
    except web.HTTPNotFound:  # ... and Go's plain-text 404 for a route it does not have
        return web.Response(status=404, text="404 page not found\n")


def make_app(proxies: ProxyCollection) -> web.Application:
    api = Api(proxies)
    app = web.Application(middlewares=[_errors_as_json])
    one_proxy = "/proxies/{proxy}"
    one_toxic = "/proxies/{proxy}/toxics/{toxic}"
    app.router.add_post("/reset", api.reset)
    app.router.add_get("/proxies", api.proxy_index)
    app.router.add_post("/proxies", api.proxy_create)
    app.router.add_post("/populate", api.populate)
    app.router.add_get(one_proxy, api.proxy_show)
    app.router.add_post(one_proxy, api.proxy_update)
    app.router.add_patch(one_proxy, api.proxy_update)
    app.router.add_delete(one_proxy, api.proxy_delete)
    app.router.add_get(one_proxy + "/toxics", api.toxic_index)
    app.router.add_post(one_proxy + "/toxics", api.toxic_create)
    app.router.add_get(one_toxic, api.toxic_show)
    app.router.add_post(one_toxic, api.toxic_update)
    app.router.add_patch(one_toxic, api.toxic_update)
    app.router.add_delete(one_toxic, api.toxic_delete)
    app.router.add_get("/version", api.version)
    return app
