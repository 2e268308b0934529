"""Which work an xdist worker takes first: the longest groups (``--dist loadgroup``).

pytest-xdist hands out whole groups (the ``@name`` of a node id) to its workers as they free up,
by default the groups with the most *tests* first. A durabench group's length is its time, not its
test count: a SUT's crash sweep is one test of a few minutes, a kill group dozens of tests of a
few seconds. Handed out last, the sweeps ran alone at the end of a run on a quarter of the workers
(14 of a shard's 14 minutes at ``-n 4``, their first trial at minute 7).

So the plugin orders the collected tests here, group by group, longest group first -- the
classic longest-processing-time-first rule, which keeps the tail short --, and turns xdist's
reordering by test count off (``--no-loadscope-reorder``), so that xdist hands the groups out in
this order. A test weighs its module's ``durabench_case_s`` (:func:`harness.shard.case_seconds`)
shared among the tests of its case (the case's SUTs and seeds); the order within a group is left as
collected (a test may re-use the trials of an earlier one). Ties keep the collection order, so the
order is the same on every worker, as xdist requires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from harness.shard import case_of, case_seconds

__all__ = ["longest_groups_first"]


def longest_groups_first(items: Sequence[pytest.Item],
                         group: Callable[[pytest.Item], str]) -> list[pytest.Item]:
    """``items`` reordered group by group (``group(item)``: its xdist group), the groups by
    falling weight (see the module docstring), each group's tests in their collected order."""
    sharing = Counter(case_of(item) for item in items)
    weight: dict[str, float] = {}
    members: dict[str, list[pytest.Item]] = {}
    for item in items:
        name = group(item)
        weight[name] = weight.get(name, 0.0) + case_seconds(item) / sharing[case_of(item)]
        members.setdefault(name, []).append(item)
    order = sorted(members, key=lambda name: -weight[name])  # stable: ties as collected
    return [item for name in order for item in members[name]]
