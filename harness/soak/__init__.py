"""Soak: many workflows on several workers under a seeded random nemesis, judged as one history.

- :mod:`harness.soak._plan` — options and the schedule (a pure function of the seed);
- :mod:`harness.soak._nemesis` — fires the schedule's faults, overlapping, each healed;
- :mod:`harness.soak._run` — submits the workflows, waits out the quiescence bound, collects;
- :mod:`harness.soak._slices` / :mod:`harness.soak._checks` — per-workflow slices and the
  soak's figures (lost, stuck, duplicates, superseded writes, waste per fault kind, TTR);
- :mod:`harness.soak._picture` / :mod:`harness.soak._report` — the picture, soak.json, output;
- :mod:`harness.soak._cli` — ``durabench soak``.
"""

from harness.soak._checks import SoakFigures, check_soak, ttr_summary
from harness.soak._plan import (
    FAULT_KINDS,
    PlannedFault,
    SoakOptions,
    SoakPlan,
    SoakUsageError,
    plan,
)

__all__ = [
    "FAULT_KINDS",
    "PlannedFault",
    "SoakFigures",
    "SoakOptions",
    "SoakPlan",
    "SoakUsageError",
    "check_soak",
    "plan",
    "ttr_summary",
]
