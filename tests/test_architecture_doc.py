"""docs/architecture.md defines every figure, report column and property the code defines.

The names are collected from the code, never listed here: the fields of
:class:`harness.figures.Figures`, the report's ``FIGURE_COLUMNS`` (the figures stored on a results
line), the ``Property`` literal, ``PROPERTIES`` and the ``CHECKERS`` registry, and the derived
columns of the report's summary and savings tables. A name is *defined* when a line of the page
opens a definition with it: ``- `name`: ...`` (a definition list) or ``| `name` | ...`` (the first
cell of a table row). So a figure or property added to the code without a definition here fails
this test, naming it.

Also: the page's relative links resolve, the README and the other docs link to it, and no doc or
docstring still sends readers to the shared first design (``ARCHITECTURE.md``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import pytest

from harness.checkers import CHECKERS
from harness.figures import Figures
from harness.history import PROPERTIES, Property
from harness.report._sanity import FIGURE_BOUNDS
from harness.report._store import FIGURE_COLUMNS, ID_COLUMNS
from harness.report._tables import SAVINGS_COLUMNS, SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"

DEFINITION = re.compile(r"^(?:- |\| )`([A-Za-z0-9_.-]+)`(?::| \|)", re.M)
QUANTILE = re.compile(r"^(?P<figure>.+)_p(?:50|95)(?:_ckpt|_nockpt)?$")
TABLE_KEYS = frozenset({*ID_COLUMNS, "runtime", "ckpt_sut", "nockpt_sut"})
"""Columns that name a group (scenario, SUT, ...) rather than measure it."""


def defined_terms(text: str) -> frozenset[str]:
    """Every name a line of ``text`` opens a definition with (module docstring)."""
    return frozenset(DEFINITION.findall(text))


def undefined(names: Iterable[str], text: str) -> list[str]:
    """The names of ``names`` that ``text`` does not define, sorted."""
    terms = defined_terms(text)
    return sorted(set(names) - terms)


def figure_names() -> set[str]:
    """Every figure the results and the report code define."""
    fields = {f.name for f in dataclasses.fields(Figures)}
    return fields | set(FIGURE_COLUMNS) | set(FIGURE_BOUNDS)


def property_names() -> set[str]:
    return set(get_args(Property)) | set(PROPERTIES) | set(CHECKERS)


def report_column_names() -> set[str]:
    """The summary and savings tables' own columns; a ``<figure>_p50`` column stands for its
    figure, which must be defined."""
    names: set[str] = set()
    for column in (*SUMMARY_COLUMNS, *SAVINGS_COLUMNS):
        if column in TABLE_KEYS:
            continue
        quantile = QUANTILE.match(column)
        names.add(quantile["figure"] if quantile else column)
    return names


@pytest.mark.parametrize("kind, names", [
    ("figure", figure_names()),
    ("property", property_names()),
    ("report column", report_column_names()),
], ids=["figures", "properties", "report-columns"])  # fmt: skip
def test_every_name_the_code_defines_is_defined_in_the_architecture_doc(
    kind: str, names: set[str]
) -> None:
    assert names, f"collected no {kind} names from the code"
    missing = undefined(names, DOC.read_text())
    assert not missing, (
        f"docs/architecture.md defines no {kind} {missing}: add a definition "
        f"(a line '- `name`: ...' or a table row '| `name` | ...'), exactly as the code computes it"
    )


def test_a_name_added_to_the_code_without_a_definition_fails() -> None:
    text = DOC.read_text()
    assert undefined({*figure_names(), "made_up_figure_s"}, text) == ["made_up_figure_s"]
    assert undefined({"terminates"}, "the property `terminates` holds") == ["terminates"]
    assert undefined({"terminates"}, "- `terminates`: every workflow ...") == []
    assert undefined({"trials"}, "| `trials` | the number of trial lines |") == []


def test_the_architecture_doc_links_resolve() -> None:
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", DOC.read_text())
    assert links
    broken = [link for link in links if not (DOC.parent / link).exists()]
    assert not broken, f"docs/architecture.md links to missing files: {broken}"


def test_the_readme_and_the_docs_point_to_it() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        if doc != DOC:
            assert "architecture.md" in doc.read_text(), f"{doc.name} does not link to it"


def _sources() -> Iterable[Path]:
    yield ROOT / "README.md"
    yield from (ROOT / "docs").glob("*.md")
    for folder in ("harness", "reference_runtime", "scenarios", "tests", "benchmarks", "scripts"):
        yield from (ROOT / folder).rglob("*.py")


def test_nothing_cites_the_shared_first_design() -> None:
    """Module docstrings and docs say ``docs/architecture.md``; only the page itself names the
    shared first design, as history."""
    citing = [str(path.relative_to(ROOT)) for path in _sources()
              if path not in (DOC, Path(__file__).resolve())
              and "ARCHITECTURE.md" in path.read_text(encoding="utf-8")]
    assert not citing, f"these still cite ARCHITECTURE.md instead of docs/architecture.md: {citing}"
