"""The lines under the status: counts that add up, and the machine the run had.

Counts come from two places. The trial lines give trials and how many were valid. The run lines
(:mod:`harness.run_plan`, written by the pytest plugin) give the scenario tests' outcomes: passed,
failed, skipped (with each reason), expected failures (xfail: a SUT's known finding seen in this
run, with its trials) and unexpected passes; ``passed + failed + skipped + xfailed + xpassed`` is
the tests finished. A store whose run lines predate these fields says "not recorded" instead.

Environment: cores and the 1-minute load average sampled while the run went (run lines), the
Postgres version and which Toxiproxy served the trials (trial lines: ``versions.postgres``,
``toxiproxy``: ``real <version>`` or ``embedded``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.run_plan import OUTCOMES, ExpectedFailure, RunSummary

__all__ = ["Overview", "overview"]


@dataclass(frozen=True)
class Overview:
    counts: tuple[str, ...]
    environment: str
    skips: tuple[str, ...]
    """``skipped xN: <reason>``, most frequent first (the HTML folds them away)."""
    expected_failures: tuple[ExpectedFailure, ...]
    recorded: bool
    """Whether the store's run lines recorded test outcomes (the known findings seen)."""

    @property
    def expected_trials(self) -> tuple[str, ...]:
        return tuple(t for x in self.expected_failures for t in x.trials)


def _distinct(trials: pd.DataFrame, column: str) -> list[str]:
    if column not in trials.columns:
        return []
    return sorted({str(v) for v in trials[column].dropna() if str(v)})


def _postgres(trials: pd.DataFrame) -> str:
    found: set[str] = set()
    for raw in trials.get("versions", pd.Series(dtype=object)).dropna():
        try:
            value = json.loads(raw).get("postgres") if isinstance(raw, str) else None
        except (ValueError, AttributeError):
            value = None
        if value:
            found.add(str(value))
    return ", ".join(sorted(found)) or "not recorded"


def _toxiproxy_text(value: str) -> str:
    return "embedded (the built-in stand-in, not the real server)" if value == "embedded" else value


def _toxiproxy(trials: pd.DataFrame) -> str:
    values = _distinct(trials, "toxiproxy")
    return ", ".join(_toxiproxy_text(v) for v in values) if values else "not recorded"


def _machine(summaries: Sequence[RunSummary]) -> str:
    cores = sorted({s.cores for s in summaries if s.cores is not None})
    loads = [s.load_1m for s in summaries if s.load_1m]
    core_text = ", ".join(str(c) for c in cores) if cores else "not recorded"
    if not loads:
        return f"cores {core_text}; load average while it ran: not recorded"
    mean = sum(x.get("mean", 0.0) for x in loads) / len(loads)
    peak = max(x.get("max", 0.0) for x in loads)
    return (f"cores {core_text}; 1-minute load average while it ran: mean {mean:.1f}, max "
            f"{peak:.1f}{_speed(summaries)}")


def _speed(summaries: Sequence[RunSummary]) -> str:
    """``; wall time 23.1 min, 14.6 scenario tests per minute`` (shards' times summed, as when
    they run one after the other), or "" when no run line recorded its wall time."""
    timed = [s for s in summaries if s.wall_s is not None]
    if not timed:
        return ""
    wall = sum(s.wall_s or 0.0 for s in timed)
    tests = sum(sum(s.outcomes.values()) for s in timed)
    shards = f" over {len(timed)} runs or shards" if len(timed) > 1 else ""
    rate = f", {tests / (wall / 60):.1f} scenario tests per minute" if wall > 0 and tests else ""
    return f"; wall time {wall / 60:.1f} min{shards}{rate}"


def _test_counts(summaries: Sequence[RunSummary]) -> tuple[str, list[str]]:
    totals = dict.fromkeys(OUTCOMES, 0)
    reasons: dict[str, int] = {}
    for s in summaries:
        for k, v in s.outcomes.items():
            totals[k] += v
        for r, n in s.skip_reasons.items():
            reasons[r] = reasons.get(r, 0) + n
    finished = sum(totals.values())
    line = (f"Scenario tests: {finished} run = {totals['passed']} passed + {totals['failed']} "
            f"failed + {totals['skipped']} skipped + {totals['xfailed']} expected failures "
            f"(known findings)" + (f" + {totals['xpassed']} unexpectedly passed"
                                   if totals["xpassed"] else ""))
    skips = [f"skipped x{n}: {reason}" for reason, n in sorted(reasons.items(),
                                                               key=lambda kv: -kv[1])]
    return line, skips


def overview(trials: pd.DataFrame, summaries: Sequence[RunSummary]) -> Overview:
    valid = int((trials["valid"] == "true").sum()) if "valid" in trials else 0
    counts = [f"Trials: {len(trials)} = {valid} valid + {len(trials) - valid} not valid"]
    recorded = any(s.outcomes for s in summaries)
    skips: list[str] = []
    if recorded:
        tests, skips = _test_counts([s for s in summaries if s.outcomes])
        counts.append(tests)
    else:
        counts.append("Scenario tests (passed / failed / skipped / expected failures): not "
                      "recorded by this store's runs (their run lines predate it)")
    environment = (f"Environment: {', '.join(_distinct(trials, 'env')) or 'not recorded'}; "
                   f"{_machine(summaries)}; Postgres {_postgres(trials)}; Toxiproxy "
                   f"{_toxiproxy(trials)}")
    return Overview(tuple(counts), environment, tuple(skips),
                    tuple(x for s in summaries for x in s.xfails), recorded)
