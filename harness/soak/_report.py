"""What a soak leaves behind: ``soak.json`` (the options, the schedule, per SUT the figures,
verdicts and anomalies), ``history-<sut>.json`` (the whole history, re-judgeable with
:func:`harness.history.history_from_json`) and ``soak-<sut>.png``; and what it prints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.history import to_json
from harness.soak._checks import ANOMALY_COUNTS, SoakFigures, ttr_summary
from harness.soak._picture import draw, verdict_lines
from harness.soak._plan import SoakPlan
from harness.soak._run import SoakRun

MAX_LISTED = 20


def replay_command(plan: SoakPlan) -> str:
    o = plan.options
    return (f"durabench soak --sut {o.sut} --workflows {o.workflows} --faults {o.faults} "
            f"--seed {o.seed} --workers {o.workers} --kinds {','.join(o.kinds)} "
            f"--max-concurrent {o.max_concurrent} --arrival-rate {o.arrival_rate:g} "
            f"--policies {','.join(o.policies)} --compounds {o.compounds}"
            + (f" --worker-concurrency {o.worker_concurrency}" if o.worker_concurrency else "")
            + (f" --queue-concurrency {o.queue_concurrency}" if o.queue_concurrency else ""))


def figures_json(run: SoakRun, fig: SoakFigures) -> dict[str, Any]:
    data = asdict(fig)
    for name in ANOMALY_COUNTS:
        data[f"{name}_count"] = len(data[name])
    data["time_to_recover"] = ttr_summary(fig.recoveries)
    data["valid"] = fig.clean
    data["wall_s"] = round(run.wall_s, 1)
    data["golden_tokens_billed"] = run.golden.tokens_billed
    data["verdicts"] = verdict_lines(fig)
    return data


def anomaly_text(plan: SoakPlan, fig: SoakFigures) -> str:
    """Every anomaly with the seed, the workflow, the faults around it and the history slice."""
    out = []
    for a in fig.anomalies[:MAX_LISTED]:
        out.append(f"ANOMALY seed={plan.options.seed} sut={plan.options.sut} {a.property}: "
                   f"workflow {a.workflow_id}: {a.details}")
        out += [f"    {line}" for line in a.faults] or ["    (no fault overlapped it)"]
        out += [f"      | {line}" for line in a.evidence]
    if len(fig.anomalies) > MAX_LISTED:
        out.append(f"... {len(fig.anomalies) - MAX_LISTED} more anomalies in soak.json")
    if out:
        out.append(f"replay: {replay_command(plan)}")
    return "\n".join(out)


def summary_text(run: SoakRun, fig: SoakFigures) -> str:
    lines = [f"== {run.plan.options.sut}: {'VALID' if fig.clean else 'INVALID'} "
             f"in {run.wall_s:.0f}s"]
    lines += [f"  {line}" for line in verdict_lines(fig)[:-1]]
    for kind, waste in fig.redundant_by_kind.items():
        lines.append(f"  redundant {kind:<16} {waste['tokens']:>9.0f} tokens ${waste['usd']:.4f}")
    for kind, t in ttr_summary(fig.recoveries).items():
        lines.append(f"  time_to_recover {kind:<16} n={t['n']:<3} p50={t['p50']:.2f}s "
                     f"p95={t['p95']:.2f}s max={t['max']:.2f}s")
    never = sum(1 for r in fig.recoveries if r.never_recovered)
    if never:
        lines.append(f"  {never} fault(s) left a workflow that never recovered")
    lines += [f"  fault error: {e}" for e in fig.fault_errors]
    lines += [f"  fault not landed (undone; a fact about the schedule): {e}"
              for e in fig.faults_not_landed]
    return "\n".join(lines)


def write(out: Path, plan: SoakPlan, runs: list[tuple[SoakRun, SoakFigures]],
          skipped: dict[str, str]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    suts: dict[str, Any] = {}
    for run, fig in runs:
        sut = run.plan.options.sut
        suts[sut] = figures_json(run, fig)
        suts[sut]["schedule"] = run.plan.describe()  # its recoveries, drawn for that SUT
        (out / f"history-{sut}.json").write_text(json.dumps(to_json(run.history)))
        title = (f"durabench soak: {sut}, seed {plan.options.seed}, {fig.workflows} workflows, "
                 f"{len(plan.faults)} faults, {plan.options.workers} workers")
        suts[sut]["picture"] = draw(run.history, fig, title, out / f"soak-{sut}.png").name
    data = {"seed": plan.options.seed, "plan": plan.to_json(), "schedule": plan.describe(),
            "skipped_kinds": skipped, "replay": replay_command(plan), "suts": suts}
    path = out / "soak.json"
    path.write_text(json.dumps(data, indent=1, default=str))
    return path
