"""``ProviderClient``: the harness's typed handle on a running provider (control API, ledger,
effect sink). Every request carries a timeout; error statuses become :class:`ProviderRequestError`.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

import httpx

from harness.history import EffectRecord, LedgerEntry, ToolExecution
from harness.llm._effects import effect_from_json
from harness.llm._errors import CallNotDeliveredError, ProviderError, ProviderRequestError
from harness.llm._ledger import entry_from_json
from harness.llm._responses import HEADER_ATTEMPT, HEADER_EXECUTOR
from harness.llm._rules import RuleAction
from harness.llm._tools import tool_execution_from_json

WaitEvent = Literal["received", "awaited", "responded", "delivered"]


class ProviderClient:
    """Talks to one provider at ``base_url`` (``http://127.0.0.1:PORT``); a context manager."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def _call(self, method: str, path: str, *, timeout_s: float | None = None,
              **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(
                method, path, timeout=timeout_s or self.timeout_s, **kwargs
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{method} {self.base_url}{path} failed: {exc!r}; is the provider running?"
            ) from exc
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        if response.status_code >= 400:
            raise ProviderRequestError(
                f"{method} {path} answered {response.status_code}: {response.text}",
                status=response.status_code,
            )
        return response.json()

    def add_rule(
        self, action: RuleAction, *, workflow_id: str | None = None, call: int | None = None,
        step: int | None = None, status: int | None = None, count: int = 1,
        retry_after_s: float | None = None, latency_s: float | None = None,
    ) -> str:
        """Add a control rule (semantics in ``harness/llm/_rules.py``); returns its rule id."""
        body: dict[str, Any] = {
            "action": action, "match": {"workflow_id": workflow_id, "call": call, "step": step},
            "count": count,
        }
        for key, value in (("status", status), ("retry_after_s", retry_after_s),
                           ("latency_s", latency_s)):
            if value is not None:
                body[key] = value
        return str(self._json("POST", "/control/rules", json=body)["rule_id"])

    def release(self, rule_id: str | None = None) -> None:
        """Let the calls waiting on one rule (or all) continue; the rule(s) match no more calls."""
        self._json("POST", "/control/release", json={} if rule_id is None else {"rule_id": rule_id})

    def reset(self) -> None:
        """Release and remove every rule."""
        self._json("DELETE", "/control/rules")

    def hold_fences(self, workflow_id: str) -> None:
        """Hold the next fence announcements for ``workflow_id`` (``_effects``, FenceGate)."""
        self._json("POST", "/control/fences/hold", json={"workflow_id": workflow_id})

    def release_fences(self, workflow_id: str | None = None) -> None:
        """Answer the held fence announcements of one workflow (or all); hold no more."""
        self._json("POST", "/control/fences/release",
                   json={} if workflow_id is None else {"workflow_id": workflow_id})

    def hold_effects(self, workflow_id: str, above: int) -> None:
        """Hold ``workflow_id``'s effect deliveries from epochs newer than ``above``, unjudged
        (``_effects``, EffectGate)."""
        self._json("POST", "/control/effects/hold",
                   json={"workflow_id": workflow_id, "above": above})

    def release_effects(self, workflow_id: str | None = None) -> None:
        """Let the held effect deliveries of one workflow (or all) through; hold no more."""
        self._json("POST", "/control/effects/release",
                   json={} if workflow_id is None else {"workflow_id": workflow_id})

    def wait_fence(self, workflow_id: str, timeout_s: float) -> int:
        """The epoch of the first held announcement for ``workflow_id``; TimeoutError if none."""
        response = self._call("GET", "/control/fences/wait", timeout_s=timeout_s + 5.0,
                              params={"workflow_id": workflow_id, "timeout": timeout_s})
        if response.status_code == 408:
            raise TimeoutError(f"no fence announcement for {workflow_id} within {timeout_s:g}s")
        if response.status_code >= 400:
            raise ProviderRequestError(f"GET /control/fences/wait answered "
                                       f"{response.status_code}: {response.text}",
                                       status=response.status_code)
        return int(response.json()["epoch"])

    def wait_for(
        self, workflow_id: str, call: int, event: WaitEvent, timeout_s: float
    ) -> LedgerEntry:
        """Block until call ``call`` of ``workflow_id`` was received / awaited (its caller waits
        on it: received, or a background response's first retrieve) / responded / delivered.

        Raises TimeoutError when it did not happen within ``timeout_s``, and
        :class:`CallNotDeliveredError` when waiting for ``delivered`` on a call answered but lost.
        """
        return entry_from_json(self._wait(workflow_id, {"call": call}, event, timeout_s))

    def wait_for_step(
        self, workflow_id: str, step: int, event: WaitEvent, timeout_s: float
    ) -> tuple[int, LedgerEntry]:
        """As :meth:`wait_for`, on the first call of logical step ``step`` whatever its number
        (a retried earlier step shifts the numbers); returns that call's number and entry."""
        raw = self._wait(workflow_id, {"step": step}, event, timeout_s)
        return int(raw["call"]), entry_from_json(raw)

    def _wait(self, workflow_id: str, which: dict[str, int], event: WaitEvent,
              timeout_s: float) -> dict[str, Any]:
        params = {"workflow_id": workflow_id, **which, "event": event, "timeout": timeout_s}
        response = self._call("GET", "/control/wait", params=params, timeout_s=timeout_s + 5.0)
        what = (f"call {which['call']}" if "call" in which
                else f"the first call of step {which['step']}")
        if response.status_code == 200:
            return dict(response.json())
        if response.status_code == 408:
            raise TimeoutError(
                f"{what} of workflow {workflow_id!r} was not {event} within {timeout_s:g}s "
                f"(ledger so far: {response.json().get('entry')})"
            )
        if response.status_code == 409:
            entry = entry_from_json(response.json()["entry"])
            raise CallNotDeliveredError(
                f"{what} of workflow {workflow_id!r} was answered (status {entry.status}) "
                "but its response never reached the client", entry=entry,
            )
        raise ProviderRequestError(
            f"GET /control/wait answered {response.status_code}: {response.text}",
            status=response.status_code,
        )

    def drop_responses(self) -> int:
        """Drop every stored Response (Responses API) as their expiry would; returns how many:
        a retrieve of any of them answers 404 from now on."""
        return int(self._json("DELETE", "/control/responses")["dropped"])

    def ledger(self, workflow_id: str | None = None) -> list[LedgerEntry]:
        """Merged ledger entries in arrival order, optionally of one workflow."""
        params = {} if workflow_id is None else {"workflow_id": workflow_id}
        entries = self._json("GET", "/v1/ledger", params=params)["entries"]
        return [entry_from_json(e) for e in entries]

    def ledger_json(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """The raw merged entries, with the ``call`` and ``settled`` fields LedgerEntry lacks."""
        params = {} if workflow_id is None else {"workflow_id": workflow_id}
        return list(self._json("GET", "/v1/ledger", params=params)["entries"])

    def effects(self, workflow_id: str | None = None) -> list[EffectRecord]:
        """Every delivery to the effect sink, optionally of one workflow."""
        params = {} if workflow_id is None else {"workflow_id": workflow_id}
        records = self._json("GET", "/v1/effects", params=params)["effects"]
        return [effect_from_json(e) for e in records]

    def tools(self, workflow_id: str | None = None) -> list[ToolExecution]:
        """Every tool execution the tool log holds, in start order, optionally of one workflow."""
        params = {} if workflow_id is None else {"workflow_id": workflow_id}
        records = self._json("GET", "/v1/tools", params=params)["tools"]
        return [tool_execution_from_json(e) for e in records]

    def send_effect(
        self, key: str, name: str, *, workflow_id: str | None = None, payload: Any = None,
        executor: str | None = None, attempt: int | None = None,
    ) -> bool:
        """Deliver an effect to the sink; True when applied, False for a duplicate key."""
        headers = {HEADER_EXECUTOR: executor or "", HEADER_ATTEMPT: "" if attempt is None
                   else str(attempt)}
        body = {"key": key, "name": name, "workflow_id": workflow_id, "payload": payload}
        return bool(self._json("POST", "/v1/effects", json=body, headers=headers)["applied"])

    def healthy(self) -> bool:
        """True when ``GET /healthz`` answers 200 (never raises)."""
        try:
            return self._http.get("/healthz", timeout=min(self.timeout_s, 2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
