"""Fixtures for the report tests: the simulated results matrix and ways to write variants of it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fixture_results import FIXTURE_PATH, build_trials

WriteResults = Callable[..., Path]


@pytest.fixture(scope="session")
def matrix() -> list[dict[str, Any]]:
    """The fixture matrix as dicts (read-only: copy before changing)."""
    return build_trials()


@pytest.fixture
def trials(matrix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A private deep copy of the matrix that a test may change."""
    return copy.deepcopy(matrix)


@pytest.fixture
def fixture_path() -> Path:
    return FIXTURE_PATH


@pytest.fixture
def write_results(tmp_path: Path) -> WriteResults:
    """Write trial dicts (and raw extra lines) to a JSONL file under tmp_path."""

    def write(records: Sequence[dict[str, Any] | str], name: str = "results.jsonl") -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write
