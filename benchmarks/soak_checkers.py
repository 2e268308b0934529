"""How the soak's checkers' cost grows with the number of workflows W and faults F.

Builds a synthetic soak history shaped like the research agent's (per workflow: 6 LLM calls,
4 tool executions, their step records, one effect, a SUCCESS record and an outcome; faults of
every kind spread over the soak, workers restarted after kills) and times
:func:`harness.soak.check_soak` on it, best of ``--repeat`` runs. Prints one line per (W, F):
seconds, and seconds per 1,000 workflows. The issue's figure: a 1,000-workflow history judged in
under 10 s.

    .venv/bin/python benchmarks/soak_checkers.py [--sizes 250,500,1000,2000] [--faults 25,100]
"""

from __future__ import annotations

import argparse
import time

from harness.soak import check_soak
from harness.soak._synthetic import synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250,500,1000,2000")
    parser.add_argument("--faults", default="25,100")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    promised = frozenset({"terminates", "single_outcome", "no_replay", "bounded_waste",
                          "output_consistency", "effects_once", "single_active_execution"})
    for faults in (int(f) for f in args.faults.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            history = synthetic(size, faults)
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fig = check_soak(history, promised, frozenset({"soak-w0", "soak-w1", "soak-w2"}))
                best = min(best, time.perf_counter() - t0)
            print(f"W={size:<5} F={faults:<4} checkers {best:6.2f}s "
                  f"({best / size * 1000:.2f}s per 1,000 workflows) valid={fig.clean} "
                  f"false={fig.false_by_property}")


if __name__ == "__main__":
    main()
