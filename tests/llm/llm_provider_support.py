"""Helpers shared by the provider's tests (imported as a top-level module by pytest's rootdir-less
layout: keep the name unique)."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

from harness.llm import HEADER_STEP, HEADER_WORKFLOW_ID


def openai_client(url: str, workflow_id: str | None = None, step: int | None = None,
                  timeout_s: float = 10.0) -> OpenAI:
    """The official SDK, no retries, with the attribution headers a workload sends."""
    headers: dict[str, str] = {}
    if workflow_id is not None:
        headers[HEADER_WORKFLOW_ID] = workflow_id
    if step is not None:
        headers[HEADER_STEP] = str(step)
    return OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=timeout_s,
                  default_headers=headers)


USER: list[Any] = [{"role": "user", "content": "Find the population of Lyon, then write a report."}]
TOOLS: list[Any] = [{
    "type": "function",
    "function": {"name": "search", "description": "web search",
                 "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}},
}]
