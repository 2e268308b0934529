"""Scripted mode: the provider answers from a fixed list of turns instead of generating.

Script file (JSON)::

    {"turns": [
        {"content": "I will search.", "tool_calls": [{"name": "search", "arguments": {"q": "x"}}],
         "completion_tokens": 40},
        {"content": "Final report ...", "finish_reason": "stop"}
    ]}

- Turn selection: ``turns[step]`` where ``step`` is the ``X-Durabench-Step`` header (0-based) when
  the request carries it, else ``turns[k]`` with ``k`` = the number of assistant messages in the
  request (so a plain agent loop walks the script in order).
- ``completion_tokens`` defaults to the tokenizer's count of the turn's content and tool calls (at
  least 1). ``arguments`` may be an object (serialised with sorted keys) or a ready JSON string.
- ``finish_reason`` defaults to ``"tool_calls"`` when the turn has tool calls, else ``"stop"``.
- Asking for a turn past the end is an error response naming the script file and the turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

FinishReason = Literal["stop", "tool_calls", "length"]
_FINISH_REASONS: frozenset[str] = frozenset({"stop", "tool_calls", "length"})


@dataclass(frozen=True)
class ScriptedToolCall:
    name: str
    arguments: str
    """The arguments as the JSON string the OpenAI schema carries."""


@dataclass(frozen=True)
class ScriptedTurn:
    content: str | None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    completion_tokens: int | None = None
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Script:
    source: str
    """Where the script came from (its file path), named in error messages."""
    turns: tuple[ScriptedTurn, ...]


def _tool_call_from_json(data: Any, where: str) -> ScriptedToolCall:
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ValueError(f"{where}: a tool call needs a string 'name' (got {data!r})")
    arguments = data.get("arguments", {})
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True)
    return ScriptedToolCall(name=data["name"], arguments=text)


def _turn_from_json(data: Any, where: str) -> ScriptedTurn:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a turn must be a JSON object (got {data!r})")
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError(f"{where}: 'content' must be a string or null")
    calls = data.get("tool_calls") or []
    if not isinstance(calls, list):
        raise ValueError(f"{where}: 'tool_calls' must be a list")
    tokens = data.get("completion_tokens")
    if tokens is not None and (not isinstance(tokens, int) or tokens < 0):
        raise ValueError(f"{where}: 'completion_tokens' must be a non-negative integer")
    finish = data.get("finish_reason")
    if finish is not None and finish not in _FINISH_REASONS:
        raise ValueError(f"{where}: 'finish_reason' must be one of {sorted(_FINISH_REASONS)}")
    if content is None and not calls:
        raise ValueError(f"{where}: a turn needs 'content' or 'tool_calls'")
    return ScriptedTurn(
        content=content,
        tool_calls=tuple(_tool_call_from_json(c, where) for c in calls),
        completion_tokens=tokens,
        finish_reason=finish,
    )


def script_from_json(data: Any, *, source: str) -> Script:
    """Validate a script's JSON; ValueError names the source and the bad turn."""
    turns = data.get("turns") if isinstance(data, Mapping) else None
    if not isinstance(turns, list) or not turns:
        raise ValueError(f'{source}: expected {{"turns": [...]}} with at least one turn')
    return Script(
        source=source,
        turns=tuple(_turn_from_json(t, f"{source} turn {i}") for i, t in enumerate(turns)),
    )


def load_script(path: Path) -> Script:
    """Read a ``--script`` file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read script {path}: {exc}") from exc
    return script_from_json(data, source=str(path))
