"""The provider's deterministic tokenizer (deliberately NOT tiktoken).

Contract — a token is one match of the regex ``\\w+|[^\\w\\s]`` (a run of word characters, or a
single character that is neither a word character nor whitespace). Then:

- ``count_text_tokens(text)`` = number of matches in ``text``;
- a message costs ``3`` + the tokens of its role, its content (a string, or the ``text`` parts of a
  list of content parts), its ``name`` and, for each tool call it carries, the function's name and
  its arguments string; a ``tool`` message's ``tool_call_id`` is not counted;
- ``count_prompt_tokens(messages)`` = the sum over messages + ``3`` (the reply primer).

Tools declared in the request are not counted (real providers do count them; a constant offset would
change no figure the harness reports). The count depends only on the messages, so the same request
always costs the same, whatever the response nonce.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
PER_MESSAGE_TOKENS = 3
REPLY_PRIMER_TOKENS = 3


def count_text_tokens(text: str) -> int:
    """Tokens in ``text``: the number of ``\\w+|[^\\w\\s]`` matches."""
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
        return " ".join(str(p) for p in parts)
    return str(content)


def _tool_calls_text(tool_calls: Any) -> str:
    if not isinstance(tool_calls, Sequence) or isinstance(tool_calls, str):
        return ""
    texts: list[str] = []
    for call in tool_calls:
        function = call.get("function", {}) if isinstance(call, Mapping) else {}
        if isinstance(function, Mapping):
            texts.append(str(function.get("name", "")))
            texts.append(str(function.get("arguments", "")))
    return " ".join(texts)


def count_message_tokens(message: Mapping[str, Any]) -> int:
    """Tokens one chat message costs (see the module docstring)."""
    text = " ".join(
        (
            str(message.get("role", "")),
            _content_text(message.get("content")),
            str(message.get("name", "") or ""),
            _tool_calls_text(message.get("tool_calls")),
        )
    )
    return PER_MESSAGE_TOKENS + count_text_tokens(text)


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat request: the messages' tokens + the reply primer."""
    return sum(count_message_tokens(m) for m in messages) + REPLY_PRIMER_TOKENS
