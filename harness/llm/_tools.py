"""The tool log: every tool execution a worker started, kept by the provider, outside the workers.

Tools run inside workers, so a worker that re-runs a tool after a crash leaves no trace in the
ledger. To make tool executions harness evidence (docs/architecture.md, "The evidence"), a worker
announces each tool execution to the provider before running it and reports when it returned:

1. ``POST /v1/tools`` with ``{"name": str}`` and the attribution headers
   (``X-Durabench-Workflow-Id``, ``-Step``, ``-Attempt``, ``-Executor``) ->
   ``{"execution_id": str}``. One fsync'd ``started`` line (provider clock ``started_ns``) is
   written before the answer, so an announced execution survives the worker's death.
2. ``POST /v1/tools/{execution_id}/finish`` with ``{"ok": bool}`` -> ``{"finished": true}``; one
   ``finished`` line (``finished_ns``). A worker killed mid-tool never sends it.

``GET /v1/tools[?workflow_id=]`` returns the merged executions in start order. The file is
``<ledger stem>.tools.jsonl`` beside the ledger; a provider restarted on the same ledger reloads it.

This module adds its own routes and state (:func:`add_tool_routes`), so the server module only
calls it once when it builds the application.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.history import ToolExecution
from harness.llm._jsonl import JsonlFile
from harness.llm._responses import ChatRequestError, attribution_from_headers
from harness.llm._state import error_response, json_response

_FIELDS = frozenset(f.name for f in fields(ToolExecution))


def tools_path_for(ledger_path: Path) -> Path:
    """``/x/ledger.jsonl`` -> ``/x/ledger.tools.jsonl``."""
    return ledger_path.with_name(f"{ledger_path.stem}.tools.jsonl")


def tool_execution_from_json(data: Mapping[str, Any]) -> ToolExecution:
    """A merged execution (as ``GET /v1/tools`` returns it) as a :class:`ToolExecution`."""
    return ToolExecution(**{k: v for k, v in data.items() if k in _FIELDS})


class ToolLog:
    """Merged view of the tool log file; close() when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path)
        self._executions: dict[str, dict[str, Any]] = {}
        for line in self._file.read():
            self._merge(line)

    def _merge(self, line: Mapping[str, Any]) -> dict[str, Any]:
        key = line.get("execution_id")
        if not isinstance(key, str):
            return {}
        merged = self._executions.setdefault(key, {"finished_ns": None, "ok": None})
        merged.update({k: v for k, v in line.items() if k != "phase"})
        return dict(merged)

    def _append(self, line: dict[str, Any]) -> dict[str, Any]:
        self._file.append(line)
        return self._merge(line)

    def start(self, *, name: str, workflow_id: str | None, step: int | None,
              attempt: int | None, executor: str | None) -> dict[str, Any]:
        """Phase 1: the worker is about to run the tool."""
        return self._append({
            "phase": "started", "execution_id": f"tool-{uuid.uuid4().hex}", "name": name,
            "workflow_id": workflow_id, "step": step, "attempt": attempt, "executor": executor,
            "started_ns": time.time_ns(),
        })

    def finish(self, execution_id: str, *, ok: bool) -> dict[str, Any] | None:
        """Phase 2: the tool returned (``ok``) or raised; None for an unknown execution id."""
        if execution_id not in self._executions:
            return None
        return self._append({"phase": "finished", "execution_id": execution_id,
                             "finished_ns": time.time_ns(), "ok": ok})

    def executions(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """Merged executions in start order, optionally of one workflow."""
        return [dict(e) for e in self._executions.values()
                if workflow_id is None or e.get("workflow_id") == workflow_id]

    def close(self) -> None:
        self._file.close()


TOOL_LOG = web.AppKey("tool_log", ToolLog)


async def _read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON body: {exc}") from exc


async def post_tool(request: web.Request) -> web.Response:
    data = await _read_json(request)
    try:
        who = attribution_from_headers(request.headers)
    except ChatRequestError as exc:
        return json_response(exc.status, exc.body())
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return error_response(400, 'a tool execution needs {"name": str}', param="name")
    entry = request.app[TOOL_LOG].start(name=data["name"], workflow_id=who.workflow_id,
                                        step=who.step, attempt=who.attempt,
                                        executor=who.executor)
    return json_response(200, {"execution_id": entry["execution_id"]})


async def finish_tool(request: web.Request) -> web.Response:
    data = await _read_json(request)
    ok = data.get("ok") if isinstance(data, dict) else None
    if not isinstance(ok, bool):
        return error_response(400, 'finishing a tool execution needs {"ok": bool}', param="ok")
    entry = request.app[TOOL_LOG].finish(request.match_info["execution_id"], ok=ok)
    if entry is None:
        return error_response(404, "no such tool execution; start it with POST /v1/tools")
    return json_response(200, {"finished": True})


async def get_tools(request: web.Request) -> web.Response:
    workflow_id = request.query.get("workflow_id")
    return json_response(200, {"tools": request.app[TOOL_LOG].executions(workflow_id)})


def add_tool_routes(app: web.Application, ledger_path: Path) -> None:
    """Open the tool log beside ``ledger_path`` on startup (closed on cleanup); add its routes."""

    async def tool_log_context(app: web.Application) -> AsyncIterator[None]:
        app[TOOL_LOG] = ToolLog(tools_path_for(ledger_path))
        yield
        app[TOOL_LOG].close()

    app.cleanup_ctx.append(tool_log_context)
    app.router.add_post("/v1/tools", post_tool)
    app.router.add_post("/v1/tools/{execution_id}/finish", finish_tool)
    app.router.add_get("/v1/tools", get_tools)
