"""Splitting the trial matrix over machines: ``pytest scenarios/ --shard K/N``.

Every collected test lands in exactly one of the N shards, and a scenario group (the
``xdist_group`` mark each scenario module sets, e.g. ``kill``) is never split: its trials, the
comparisons that re-use them and its golden runs stay on one machine. A test without the mark is
its own module's group (its file path).

Assignment, the same on every machine given the same command line:

1. weigh each group by the time its *cases* take: collected tests counted once across the SUT
   and seed axes (``--sut all`` resolves to the SUTs installed on each machine, so a raw test
   count could differ between two shard machines; the cases of a module do not), each case
   weighing its module's ``durabench_case_s`` mark (seconds a case took on one worker of the
   2-core CI machine, all SUTs included; :data:`DEFAULT_CASE_S` unmarked) -- a crash sweep's
   one case outweighs a hundred kill cases;
2. sort the groups by weight, heaviest first, ties by name;
3. give each in turn to the shard with the least weight so far (ties: the lowest shard number).

Steps 2-3 depend only on the set of groups and their weights, never on the order pytest collected
the files in. Give every shard the same paths, ``-k``/``-m`` and ``--run-id``: the groups a shard
sees decide the split. A shard that gets no group deselects everything (pytest exits 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pytest

__all__ = [
    "DEFAULT_CASE_S", "SHARD_AXES", "Shard", "assign_groups", "case_of", "case_seconds", "group_of",
    "group_weights", "parse_shard", "split",
]

SHARD_AXES = frozenset({"durabench_sut", "durabench_seed"})
"""Parameters that multiply a case by the machine's SUTs and ``--seeds``: not part of a case."""

DEFAULT_CASE_S = 10.0
"""The weight of a case whose module has no ``durabench_case_s`` mark."""

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based, as written on the command line)."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> :class:`Shard`; ValueError with one line saying what to pass instead."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(f"--shard {text!r}: expected K/N (shard K of N, e.g. --shard 1/2)")
    index, total = int(match[1]), int(match[2])
    if total < 1 or not 1 <= index <= total:
        n = max(total, 2)
        raise ValueError(f"--shard {text!r}: K must be 1..N (shard K of N), e.g. --shard 1/{n} "
                         f"... --shard {n}/{n}")
    return Shard(index, total)


def group_of(item: pytest.Item) -> str:
    """The item's outermost ``xdist_group`` name (its module's, where a SUT's group was added
    beside it: ``durabench_group_per_sut``), else its file (the part of its node id before
    ``::``)."""
    for mark in reversed(list(item.iter_markers("xdist_group"))):
        name = mark.args[0] if mark.args else mark.kwargs.get("name")
        if name:
            return str(name)
    return item.nodeid.split("::", 1)[0]


def case_of(item: pytest.Item) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The item's test function and parameter indices, leaving out :data:`SHARD_AXES`."""
    base = item.nodeid.split("[", 1)[0]
    callspec = getattr(item, "callspec", None)
    indices: Mapping[str, int] = getattr(callspec, "indices", {}) if callspec else {}
    return base, tuple(sorted((k, v) for k, v in indices.items() if k not in SHARD_AXES))


def case_seconds(item: pytest.Item) -> float:
    """What one case of the item's module weighs: its ``durabench_case_s`` mark, in seconds."""
    mark = item.get_closest_marker("durabench_case_s")
    if mark is None:
        return DEFAULT_CASE_S
    value = mark.args[0] if mark.args else mark.kwargs.get("seconds")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise pytest.UsageError(f"{item.nodeid}: durabench_case_s takes the seconds a case "
                                f"takes, a positive number (got {value!r})")
    return float(value)


def group_weights(items: Iterable[pytest.Item]) -> dict[str, float]:
    """Each group's weight: its distinct cases (:func:`case_of`), each weighing
    :func:`case_seconds`."""
    cases: dict[str, dict[tuple[str, tuple[tuple[str, int], ...]], float]] = {}
    for item in items:
        cases.setdefault(group_of(item), {})[case_of(item)] = case_seconds(item)
    return {group: sum(found.values()) for group, found in cases.items()}


def assign_groups(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Group -> shard (1-based): greedy, heaviest group first, to the lightest shard so far."""
    load = [0.0] * total
    assigned: dict[str, int] = {}
    for group in sorted(weights, key=lambda g: (-weights[g], g)):
        lightest = min(range(total), key=lambda i: (load[i], i))
        load[lightest] += weights[group]
        assigned[group] = lightest + 1
    return assigned


def split(
    items: list[pytest.Item], shard: Shard, collected: Sequence[pytest.Item] | None = None,
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(kept, deselected): the items of ``shard``'s groups, in collection order, and the rest.

    Groups are weighed over ``collected`` (default ``items``): every test collected, before a
    selection that may differ between machines (``--sut``) dropped some."""
    assigned = assign_groups(group_weights(items if collected is None else collected),
                             shard.total)
    keep = [item for item in items if assigned[group_of(item)] == shard.index]
    drop = [item for item in items if assigned[group_of(item)] != shard.index]
    return keep, drop
