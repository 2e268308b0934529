"""A mutant: one deliberately broken variant of the reference runtime, as exact text patches.

A mutant never touches the tree: :func:`apply_mutant` patches a *copy* of ``reference_runtime/``
that the run made (``harness.mutants._run``). Each :class:`Patch` replaces one exact piece of text
that must occur exactly once in its file, so a mutant whose line moved or changed stops with one
line (:class:`StaleMutantError`) instead of silently patching nothing or the wrong place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

PACKAGE = "reference_runtime"
"""The package a mutant patches; :attr:`Patch.file` is relative to it."""

BugClass = Literal[
    "fault during recovery",
    "recovery racing itself",
    "old and new overlap",
    "zombie: unfenced outcome",
    "zombie: unfenced step",
    "zombie: unfenced effect",
    "work that never wakes",
    "dead letter",
    "shared outage",
    "failed step replayed",
    "connect timeout",
    "takeover promise",
    "queue limit overrun",
    "none (test only)",
]
"""The classes of recovery bug of issue #24, one short label each (docs/mutants.md)."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,47}$")


class StaleMutantError(ValueError):
    """A patch's old text is not in its file exactly once: the runtime changed under the mutant.
    The message is one line naming the mutant, the file and the text."""


@dataclass(frozen=True)
class Patch:
    """Replace ``old`` by ``new`` in ``file`` (a path inside ``reference_runtime/``). ``old``
    must occur exactly once in the file; keep it small and about one idea."""

    file: str
    old: str
    new: str

    def __post_init__(self) -> None:
        path = PurePosixPath(self.file)
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
            raise ValueError(f"patch file {self.file!r}: name a .py file inside {PACKAGE}/")
        if not self.old or self.old == self.new:
            raise ValueError(f"patch of {self.file}: old text must be non-empty, new must differ")


@dataclass(frozen=True)
class Mutant:
    """One broken variant: its ``patches`` and the scenario test(s) meant to catch it.

    ``catches``: pytest node ids relative to the checkout (``scenarios/test_x.py::test[id]``),
    run together with ``--sut reference``; the mutant is caught when one of them fails on a
    verdict or an assertion.
    """

    name: str
    bug_class: BugClass
    description: str
    patches: tuple[Patch, ...]
    catches: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"mutant name {self.name!r}: use 2-48 lower-case letters, digits, '-'")
        if not self.patches or not self.catches:
            raise ValueError(f"mutant {self.name}: needs at least one patch and one target")


def _snippet(text: str) -> str:
    """The first non-blank line of ``text``, stripped and shortened, for one-line errors."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())
    more = len(line) > 60 or len([ln for ln in text.splitlines() if ln.strip()]) > 1
    return repr(line[:60] + ("..." if more else ""))


def patched_text(mutant: Mutant, patch: Patch, text: str) -> str:
    """``text`` with ``patch`` applied; :class:`StaleMutantError` unless ``old`` occurs once."""
    where = f"{PACKAGE}/{patch.file}"
    count = text.count(patch.old)
    if count == 0:
        raise StaleMutantError(
            f"mutant {mutant.name} is stale: {where} no longer contains {_snippet(patch.old)}")
    if count > 1:
        raise StaleMutantError(
            f"mutant {mutant.name} is stale: {where} contains {_snippet(patch.old)} {count} "
            "times; make the patch's old text unique")
    return text.replace(patch.old, patch.new, 1)


def apply_mutant(mutant: Mutant, package_dir: Path) -> None:
    """Patch the copy of ``reference_runtime`` at ``package_dir`` in place. Every patch is
    checked before any file is written, so a stale mutant leaves the copy as it was."""
    texts: dict[Path, str] = {}
    for patch in mutant.patches:
        path = package_dir / patch.file
        if path not in texts:
            try:
                texts[path] = path.read_text()
            except FileNotFoundError:
                raise StaleMutantError(
                    f"mutant {mutant.name} is stale: {PACKAGE}/{patch.file} does not exist"
                ) from None
        texts[path] = patched_text(mutant, patch, texts[path])
    for path, text in texts.items():
        path.write_text(text)
