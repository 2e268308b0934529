#!/usr/bin/env python3
"""Print the README's table "what one SIGKILL mid-step costs on each runtime" from a results
store (``scenarios/test_kill.py`` trials): per SUT and crash point, the median redundant tokens and
time to recover under the restart policy | a takeover by a second worker (``standby``, or
``supervised`` for a SUT without native takeover).

    python scripts/kill_table.py reports/example/results.jsonl [--env local]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

POINTS = (("mid_step_early", "killed early in a step"), ("mid_step_late", "killed late in a step"),
          ("between_steps", "killed between steps"))
ORDER = ("reference", "dbos", "temporal", "langgraph", "reference-nockpt", "langgraph-nockpt",
         "plain")


def _cell(values: list[tuple[float, float]]) -> str:
    if not values:
        return "-"
    tokens = statistics.median(v[0] for v in values)
    ttr = statistics.median(v[1] for v in values)
    return f"{tokens:,.0f} / {ttr:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--env", default="local")
    args = parser.parse_args()
    cells: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    takeover: dict[str, str] = {}
    for line in args.results.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if (row.get("kind") != "trial" or row.get("scenario") != "kill"
                or row.get("env") != args.env or row.get("valid") != "true"
                or row.get("redundant_tokens") is None or row.get("time_to_recover_s") is None):
            continue
        policy = "restart" if row["recovery"] == "restart" else "takeover"
        if policy == "takeover":
            takeover[row["sut"]] = row["recovery"]
        cells[(row["sut"], row["trigger"], policy)].append(
            (float(row["redundant_tokens"]), float(row["time_to_recover_s"])))
    suts = sorted({k[0] for k in cells}, key=lambda s: (ORDER.index(s) if s in ORDER else 99, s))
    print("| SUT (takeover policy) | " + " | ".join(title for _, title in POINTS) + " |")
    print("| --- |" + " --- |" * len(POINTS))
    for sut in suts:
        row = [f"{_cell(cells[(sut, p, 'restart')])} \\| {_cell(cells[(sut, p, 'takeover')])}"
               for p, _ in POINTS]
        print(f"| `{sut}` ({takeover.get(sut, '-')}) | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
