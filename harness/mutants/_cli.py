"""``durabench mutants``: run the catalog's mutants (or some) and print caught / missed / error.

Exit status: 0 when every mutant run was caught; 1 when one was missed or ended in error; 2 on a
usage error (an unknown ``--only`` name, no checkout); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence

from harness.mutants._catalog import MUTANTS
from harness.mutants._mutant import Mutant
from harness.mutants._run import DEFAULT_TIMEOUT_S, CheckoutError, MutantRun, run_mutants
from harness.suite import _positive_int, _positive_seconds


class MutantUsageError(ValueError):
    """A selection that names no mutant of the catalog; one line for the user."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true",
                        help="print the catalog (name, class, targets, what is broken) and exit")
    parser.add_argument("--only", default=None, metavar="NAME,NAME",
                        help="run only these mutants (comma-separated names)")
    parser.add_argument("--sample", type=_positive_int, default=None, metavar="N",
                        help="run N mutants picked by --seed (the same N for the same seed)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of --sample (default 0)")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="S",
                        help="stop a mutant's pytest run after S seconds and count it as an "
                             f"error (default {DEFAULT_TIMEOUT_S:.0f})")
    parser.add_argument("--keep", action="store_true",
                        help="keep each mutant's copy, pytest log, JUnit XML and results store "
                             "(in a temp dir the progress lines name, until `durabench sweep`)")


def select(catalog: Sequence[Mutant], only: str | None, sample: int | None,
           seed: int) -> list[Mutant]:
    """The mutants to run, in catalog order: ``only`` (comma-separated names; an unknown one is
    a :class:`MutantUsageError`), then ``sample`` of them drawn with ``random.Random(seed)``."""
    pool = list(catalog)
    if only is not None:
        names = [n.strip() for n in only.split(",") if n.strip()]
        known = {m.name for m in catalog}
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise MutantUsageError(
                f"--only: unknown mutant(s) {', '.join(unknown) or '(none given)'}; known: "
                f"{', '.join(m.name for m in catalog)}")
        pool = [m for m in catalog if m.name in names]
    if sample is not None and sample < len(pool):
        picked = set(random.Random(seed).sample(range(len(pool)), sample))
        pool = [m for i, m in enumerate(pool) if i in picked]
    return pool


def _short(target: str) -> str:
    """``scenarios/test_x.py::test_y[id]`` -> ``test_x.py::test_y[id]``."""
    return target.rsplit("/", 1)[-1]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]  # fmt: skip


def catalog_lines(catalog: Sequence[Mutant]) -> list[str]:
    """``--list``: one row per mutant and target, then what each breaks."""
    rows = [["mutant", "class", "target"]]
    for m in catalog:
        rows += [[m.name if i == 0 else "", m.bug_class if i == 0 else "", _short(t)]
                 for i, t in enumerate(m.catches)]  # fmt: skip
    return [*_table(rows), "", *(f"{m.name}: {m.description}" for m in catalog)]


def result_lines(runs: Sequence[MutantRun], seed: int, sampled: bool) -> list[str]:
    """The table (name / class / target / result / seconds), each run's detail, the counts."""
    rows = [["mutant", "class", "target", "result", "seconds"]]
    for run in runs:
        m = run.mutant
        rows += [[m.name, m.bug_class, _short(m.catches[0]), run.result, f"{run.seconds:.0f}"]]
        rows += [["", "", _short(t), "", ""] for t in m.catches[1:]]
    counts = {r: sum(1 for run in runs if run.result == r) for r in ("caught", "missed", "error")}
    summary = (f"durabench mutants: {counts['caught']} caught, {counts['missed']} missed, "
               f"{counts['error']} error of {len(runs)}"
               + (f" (--sample {len(runs)} --seed {seed})" if sampled else ""))
    return [*_table(rows), "", *(f"{run.mutant.name}: {run.result}: {run.detail}"
                                 for run in runs), "", summary]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.list:
        print("\n".join(catalog_lines(MUTANTS)))
        return 0
    try:
        chosen = select(MUTANTS, args.only, args.sample, args.seed)
    except MutantUsageError as exc:
        print(f"durabench mutants: {exc}", file=sys.stderr)
        return 2
    try:
        runs = run_mutants(chosen, keep=args.keep, timeout_s=args.timeout)
    except CheckoutError as exc:
        print(f"durabench mutants: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("durabench mutants: interrupted", file=sys.stderr)
        return 130
    print("\n".join(result_lines(runs, args.seed, args.sample is not None)))
    return 0 if runs and all(run.result == "caught" for run in runs) else 1
