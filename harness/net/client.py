"""A Toxiproxy 2.x API client whose server address belongs to the instance, with timeouts.

It talks through ``toxiproxy-python`` 0.1.1, whose ``APIConsumer`` keeps host and port in class
attributes (process-wide globals). Each :class:`ToxiproxyClient` binds its own subclass of
``APIConsumer`` with its host and port, so clients for different servers can be used from several
threads at once without touching the library's globals, and passes ``timeout=`` on every request.
Operations that library lacks (updating a toxic, ``/populate``, ``/reset`` with a timeout) go
straight to the HTTP API through a ``requests`` session of the client's own (``requests``, not
``httpx``: an ``httpx.Client`` builds a TLS context up front, ~20 ms on the first call).
Responses are read by their body, not their ``Content-Type``: the real server sends its JSON error
bodies as ``text/plain``. Errors become :mod:`harness.net.errors` exceptions.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from . import errors, ports

REBIND_S = 10.0
"""How long enabling a proxy retries while its port is taken (``set_enabled``)."""

Stream = Literal["upstream", "downstream"]
ToxicType = Literal[
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data"
]


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data.get("stream", "downstream"),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the server reports it; ``listen`` is the bound ``host:port``."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()),
        )

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _server_message(body: bytes | str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip() or "(empty body)"
    if isinstance(data, dict):
        return str(data.get("error") or data.get("title") or text.strip())
    return text.strip()


def _error_for(status: int, message: str, what: str, url: str) -> errors.ToxiproxyError:
    detail = f"{what}: {message} (HTTP {status} from {url})"
    if status == 404:
        if "toxic" in message:
            return errors.ToxicNotFoundError(
                detail + "; list the proxy's toxics to see what exists", status=status
            )
        return errors.ProxyNotFoundError(
            detail + "; create it first or list proxies with .proxies()", status=status
        )
    if status == 409:
        if "toxic" in message:
            return errors.ToxicConflictError(
                detail + "; remove it or pick another name", status=status
            )
        return errors.ProxyConflictError(
            detail + "; delete it, pick another name, or use populate()", status=status
        )
    return errors.ToxiproxyRequestError(detail, status=status)


class ToxiproxyClient:
    """Drives one Toxiproxy-compatible server (real Toxiproxy 2.x or the embedded one)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parsed = httpx.URL(url)
        if parsed.host == "" or parsed.port is None:
            raise ValueError(
                f"Toxiproxy URL needs a host and port, e.g. http://127.0.0.1:8474: {url!r}"
            )
        self.url = str(parsed).rstrip("/")
        self.timeout_s = timeout_s
        self._consumer: Any = type(
            "BoundAPIConsumer", (APIConsumer,), {"host": parsed.host, "port": parsed.port}
        )
        self._http: requests.Session | None = None  # made on first use

    # -- resource -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------
    def _library(self, method: str, path: str, what: str, body: Any = None) -> Any:
        """A request through toxiproxy-python's consumer; returns the decoded JSON (or text)."""
        call = getattr(self._consumer, method)
        kwargs: dict[str, Any] = {"timeout": self.timeout_s}
        if body is not None:
            kwargs["json"] = body
        try:
            response = call(path, **kwargs)
        except (ProxyExists, NotFound, InvalidToxic) as exc:
            status = {ProxyExists: 409, NotFound: 404, InvalidToxic: 400}[type(exc)]
            raw = exc.args[0] if exc.args else b""
            raise _error_for(status, _server_message(raw), what, self.url) from exc
        except requests.RequestException as exc:
            raise self._unavailable(what, exc) from exc
        return self._decode(response.status_code, response.content, what)

    def _direct(self, method: str, path: str, what: str, body: Any = None) -> Any:
        """A request straight to the HTTP API, for what toxiproxy-python cannot do."""
        if self._http is None:
            self._http = requests.Session()
            self._http.trust_env = False  # no proxy or netrc lookups: this is a local API
        try:
            response = self._http.request(
                method, self.url + path, json=body, timeout=self.timeout_s
            )
        except requests.RequestException as exc:
            raise self._unavailable(what, exc) from exc
        return self._decode(response.status_code, response.content, what)

    def _decode(self, status: int, content: bytes, what: str) -> Any:
        if status >= 400:
            raise _error_for(status, _server_message(content), what, self.url)
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError:
            return content.decode(errors="replace").strip()

    def _unavailable(self, what: str, exc: Exception) -> errors.ToxiproxyUnavailableError:
        return errors.ToxiproxyUnavailableError(
            f"{what}: no answer from Toxiproxy at {self.url} within {self.timeout_s}s "
            f"({type(exc).__name__}: {exc}); is the server running? "
            "(see harness.net.toxiproxy_server)"
        )

    # -- server ---------------------------------------------------------------------------------
    def version(self) -> str:
        """The server's version (2.x servers answer JSON, older ones plain text)."""
        data = self._library("get", "/version", "get version")
        return str(data["version"]) if isinstance(data, dict) else str(data)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._direct("POST", "/reset", "reset")

    def populate(self, proxies: Sequence[Mapping[str, Any]]) -> list[ProxyInfo]:
        """Create or replace proxies (``name``, ``listen``, ``upstream``, optional ``enabled``)."""
        data = self._direct("POST", "/populate", "populate proxies", [dict(p) for p in proxies])
        items = data["proxies"] if isinstance(data, dict) else data
        return [ProxyInfo.from_json(item) for item in items or ()]

    # -- proxies --------------------------------------------------------------------------------
    def proxies(self) -> dict[str, ProxyInfo]:
        data = self._library("get", "/proxies", "list proxies")
        return {name: ProxyInfo.from_json(item) for name, item in data.items()}

    def create_proxy(
        self, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyInfo:
        """Create a proxy; ``listen`` with port 0 gets a port outside the ephemeral range (a
        proxy disabled for a moment must be able to listen on it again: :mod:`.ports`), checked
        free where the host is this machine's loopback and tried again where it was taken."""
        host, _, port = listen.rpartition(":")
        attempts = 20 if port == "0" else 1
        for attempt in range(attempts):
            if port == "0":
                local = host.strip("[]") in ("127.0.0.1", "localhost")
                chosen = ports.listen_port(host.strip("[]"), check=local)
                listen = f"{host}:{chosen}"
            body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
            try:
                data = self._library("post", "/proxies", f"create proxy {name!r}", body)
            except errors.ToxiproxyRequestError as exc:
                if "address already in use" in str(exc).lower() and attempt + 1 < attempts:
                    continue
                raise
            return ProxyInfo.from_json(data)
        raise AssertionError("unreachable")

    def get_proxy(self, name: str) -> ProxyInfo:
        data = self._library("get", f"/proxies/{quote(name, safe='')}", f"get proxy {name!r}")
        return ProxyInfo.from_json(data)

    def set_enabled(self, name: str, enabled: bool) -> ProxyInfo:
        """Disabling closes the listener and every live connection; enabling re-listens on the
        same port. While a proxy is down the kernel may hand its port to an outgoing connection
        (CI saw ``bind: address already in use``): enabling retries for up to
        :data:`REBIND_S` seconds, for such a connection to end."""
        what = f"{'enable' if enabled else 'disable'} proxy {name!r}"
        deadline = time.monotonic() + (REBIND_S if enabled else 0.0)
        while True:
            try:
                data = self._library("post", f"/proxies/{quote(name, safe='')}", what,
                                     {"enabled": enabled})  # fmt: skip
                return ProxyInfo.from_json(data)
            except errors.ToxiproxyRequestError as exc:
                if "address already in use" not in str(exc).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def delete_proxy(self, name: str) -> None:
        self._library("delete", f"/proxies/{quote(name, safe='')}", f"delete proxy {name!r}")

    @contextlib.contextmanager
    def disabled(self, name: str) -> Iterator[ProxyInfo]:
        """The proxy is down inside the block and enabled again after it, whatever happens."""
        info = self.set_enabled(name, False)
        try:
            yield info
        finally:
            self.set_enabled(name, True)

    # -- toxics ---------------------------------------------------------------------------------
    def _toxics_path(self, proxy: str, toxic: str | None = None) -> str:
        path = f"/proxies/{quote(proxy, safe='')}/toxics"
        return path if toxic is None else f"{path}/{quote(toxic, safe='')}"

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        data = self._library("get", self._toxics_path(proxy), f"list toxics of {proxy!r}")
        return [ToxicInfo.from_json(item) for item in data]

    def get_toxic(self, proxy: str, name: str) -> ToxicInfo:
        what = f"get toxic {name!r} of proxy {proxy!r}"
        return ToxicInfo.from_json(self._library("get", self._toxics_path(proxy, name), what))

    def add_toxic(
        self,
        proxy: str,
        type: ToxicType | str,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: int,
    ) -> ToxicInfo:
        """Add a toxic; its default name is ``<type>_<stream>``, as in Toxiproxy."""
        body = {
            "name": name or f"{type}_{stream}",
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        what = f"add {type} toxic to proxy {proxy!r}"
        return ToxicInfo.from_json(self._library("post", self._toxics_path(proxy), what, body))

    def update_toxic(
        self, proxy: str, name: str, *, toxicity: float | None = None, **attributes: int
    ) -> ToxicInfo:
        """Change some attributes (the others keep their values) and optionally the toxicity."""
        body: dict[str, Any] = {"attributes": attributes}
        if toxicity is not None:
            body["toxicity"] = toxicity
        what = f"update toxic {name!r} of proxy {proxy!r}"
        # POST rather than PATCH: every 2.x server accepts it (PATCH came in 2.1).
        return ToxicInfo.from_json(self._direct("POST", self._toxics_path(proxy, name), what, body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        what = f"remove toxic {name!r} from proxy {proxy!r}"
        self._library("delete", self._toxics_path(proxy, name), what)

    @contextlib.contextmanager
    def toxic(
        self,
        proxy: str,
        type: ToxicType | str,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: int,
    ) -> Iterator[ToxicInfo]:
        """The toxic is active inside the block and removed after it, whatever happens."""
        info = self.add_toxic(
            proxy, type, stream=stream, toxicity=toxicity, name=name, **attributes
        )
        try:
            yield info
        finally:
            with contextlib.suppress(errors.ToxicNotFoundError):
                self.remove_toxic(proxy, info.name)
