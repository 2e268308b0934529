"""What a slow ``worker→postgres`` link costs a research-agent run, with checkpointing on and off.

Run: ``.venv/bin/python benchmarks/postgres_latency.py [--repeats N]`` from the repository root.
Starts a local environment (embedded Postgres, provider, Toxiproxy), then for each SUT and each
link latency in ``LATENCIES_MS`` runs the suite's research agent ``--repeats`` times with a
``latency`` toxic on the link for the whole run.

A checkpoint is one round trip, so a checkpointing run should slow down by about one round trip
per step; without checkpointing the run makes a handful of round trips in all. This is a timing
figure (medians over repeats), which is why it lives here and not in the chaos suite, where
machine noise on a loaded runner can exceed the effect (issue 12).

The last line is ``added_ms_per_step reference=<0,25,100 ms> reference-nockpt=<...>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.env.local import LocalEnvironment
from harness.faults import DegradeFault
from harness.runner import run_trial
from harness.scenario import SUITE_PARAMS, research_trial
from harness.triggers import Trigger

LATENCIES_MS = (0, 25, 100)
SUTS = ("reference", "reference-nockpt")


def _duration(env: LocalEnvironment, sut: str, ms: int, repeat: int) -> float:
    slow = DegradeFault(toxic="latency", link="postgres", attributes=(("latency", ms),))
    spec = research_trial("bench_pg_latency", sut, slow, f"pg_latency_{ms}ms_r{repeat}",
                          trigger=Trigger("after", seconds=0.0), crash_step=0)  # fmt: skip
    result = run_trial(env, spec)  # no golden run: only the duration is measured here
    status = [w.status for w in result.history.workflows]
    if status[:1] != ["SUCCESS"] or result.figures.duration_s is None:
        raise RuntimeError(f"{spec.trial_id}: workflow {status}; {result.judgement.summary()}")
    return result.figures.duration_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    steps = SUITE_PARAMS.llm_calls + SUITE_PARAMS.turns + 1
    per_step: dict[str, list[float]] = {}
    with LocalEnvironment() as env:
        for sut in SUTS:
            medians = [statistics.median(_duration(env, sut, ms, r) for r in range(args.repeats))
                       for ms in LATENCIES_MS]  # fmt: skip
            per_step[sut] = [round((m - medians[0]) / steps * 1000, 1) for m in medians]
            print(f"{sut}: median durations {[round(m, 2) for m in medians]} s at "
                  f"{LATENCIES_MS} ms", flush=True)  # fmt: skip
    print("added_ms_per_step " + " ".join(f"{s}={per_step[s]}" for s in SUTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
