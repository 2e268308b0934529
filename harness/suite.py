"""``durabench suite``: the main job — run the chaos suite, then write its report.

Steps: validate every argument (a usage error exits 2 before anything is created) -> a run id ->
``pytest scenarios/ --sut all`` (every installed SUT, unless ``--sut`` names others) with the
durabench plugin and ``--run-id``, appending every trial to
``<out-root>/<run id>/results.jsonl`` (progress: one line per trial) -> ``durabench report`` into
the same directory -> point ``<out-root>/latest`` at it (atomically) -> print the headline (one
line per scenario), then, as the last lines, the status, the counts and the report path. The exit
status is pytest's, so a false or unknown verdict fails the job, but the report is written either
way. ``--quick`` runs every fault family once on the reference runtime and one peer
(:data:`QUICK_SCENARIOS`, :data:`QUICK_SUTS`): ~6 minutes on 2 cores instead of the full
suite's ~27.

Past one machine: ``--shard K/N --run-id ID`` on each of N machines passes both to pytest (the
split: :mod:`harness.shard`) and writes shard K's store and report into
``<out-root>/<ID>-shard<K>of<N>/``; ``durabench report`` / ``gate`` on the N ``results.jsonl``
merge them (docs/reports.md).

SIGINT, SIGTERM and SIGHUP are passed on to pytest (in its own process group, so it gets each
signal once), which tears down as on Ctrl-C; pytest gets
SIGTERM by itself if this process dies (parent-death signal), so nothing outlives the command.
After a SIGKILL of pytest itself, ``durabench sweep --run-id <run id>`` removes what it left.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from harness.env.local import new_run_id

if TYPE_CHECKING:
    from harness.report import ReportFiles

QUICK_SCENARIOS: tuple[str, ...] = tuple(
    f"scenarios/test_{family}.py" for family in (
        "kill", "evict", "oom", "pause", "db_crash", "partition", "degrade", "provider_errors"))
"""``--quick``: one scenario file per fault family (no long loops, fan-outs or races)."""
QUICK_SUTS = "reference,reference-nockpt,dbos"
"""``--quick``: the reference runtime, its checkpointing-off twin and one peer."""

_PR_SET_PDEATHSIG = 1
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _shard(text: str) -> str:
    from harness.shard import parse_shard

    try:
        return str(parse_shard(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--shard {text!r}: ")) from None


def known_suts() -> tuple[str, ...]:
    """The SUT registry's names (entry points of ``durabench.suts``; nothing is imported)."""
    from harness.sut import sut_names

    return tuple(sut_names())


def _sut_list(text: str) -> str:
    from harness.sut import ReleaseError, parse_sut_spec

    names = [n.strip() for n in text.split(",") if n.strip()]
    if text.strip() == "all" or "all" in names:
        return text
    known = known_suts()
    try:
        names = [str(parse_sut_spec(n)) for n in names]
    except ReleaseError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    unknown = [n for n in names if parse_sut_spec(n).name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown SUT(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
        )
    return ",".join(names)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.cli import run_id_argument

    parser.add_argument("scenarios", nargs="*", default=None, metavar="PATH",
                        help="scenario files or directories (default: scenarios)")
    parser.add_argument("--out-root", default="reports", metavar="DIR",
                        help="where the run's directory is created (default: reports)")
    parser.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                        help="seeds per trial (>= 1)")
    parser.add_argument("--sut", type=_sut_list, default=None,
                        help="registered SUT names, comma-separated, or 'all': every SUT "
                             "installed here (the default; `durabench suts` lists them)")
    parser.add_argument("--workers", type=_positive_int, default=4, metavar="N",
                        help="parallel pytest workers (pytest-xdist; default: 4: trials mostly "
                             "wait, so two per core beat one)")
    parser.add_argument("--trial-timeout", type=_positive_seconds, default=None, metavar="S",
                        help="seconds before a trial is cut off and judged unknown")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                        help="extra argument passed to pytest (repeatable)")
    parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                        help="run shard K of N (whole scenario groups; with the same --run-id on "
                             "every shard, so `durabench report/gate` can merge their stores)")
    parser.add_argument("--run-id", type=run_id_argument, default=None, metavar="ID",
                        help="the run's label (default: a new one); shards of one run share it")
    parser.add_argument("--quick", action="store_true",
                        help="a few minutes: one scenario file per fault family, on "
                             f"{QUICK_SUTS} (unless PATH or --sut say otherwise)")


def _pytest_argv(args: argparse.Namespace, results: Path, run_id: str) -> list[str]:
    _apply_quick(args)
    argv = [sys.executable, "-m", "pytest", *args.scenarios, "--results", str(results),
            "--run-id", run_id,
            "--seeds", str(args.seeds), "-p", "no:cacheprovider", "-q", "-rfE"]  # fmt: skip
    argv += ["--sut", args.sut]
    if args.shard is not None:
        argv += ["--shard", args.shard]
    if args.trial_timeout is not None:
        argv += ["--trial-timeout", str(args.trial_timeout)]
    if args.workers > 1:
        # One xdist group (a scenario module's tests of one SUT family) per worker process at a
        # time: its trials and their cache stay together, so no trial is run (and recorded)
        # twice; the longest groups go first (harness/schedule.py).
        argv += ["-n", str(args.workers), "--dist", "loadgroup"]
    return argv + list(args.pytest_arg)


def _apply_quick(args: argparse.Namespace) -> None:
    """Fill in the defaults: the whole suite on every installed SUT, or the quick selection."""
    if not args.scenarios:
        args.scenarios = list(QUICK_SCENARIOS) if args.quick else ["scenarios"]
    if args.sut is None:
        args.sut = QUICK_SUTS if args.quick else "all"


def run_suite(args: argparse.Namespace) -> int:
    _apply_quick(args)
    missing = [p for p in args.scenarios if not Path(p).exists()]
    if missing:
        print(f"durabench suite: {', '.join(missing)} not found; run it from a durabench "
              "checkout or name the scenario files", file=sys.stderr)  # fmt: skip
        return 2
    from harness.report import load_results, write_report

    if args.shard is not None and args.run_id is None:
        print("durabench suite: --shard needs --run-id ID, the same on every shard (their stores "
              "merge only when they name one run)", file=sys.stderr)
        return 2
    run_id = args.run_id or new_run_id()
    run_dir = run_id if args.shard is None else f"{run_id}-shard{args.shard.replace('/', 'of')}"
    out_dir = Path(args.out_root) / run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.jsonl"
    print(f"durabench suite: run {run_id}; results -> {results}", flush=True)
    t0 = time.monotonic()
    code = run_forwarding_signals(_pytest_argv(args, results, run_id))
    print(f"durabench suite: scenarios finished in {time.monotonic() - t0:.0f}s "
          f"(pytest exit {code})", flush=True)  # fmt: skip
    if not results.exists():
        print("durabench suite: no trial was recorded, so there is no report", file=sys.stderr)
        return code or 1
    files = write_report(load_results([results]), out_dir, title=f"durabench run {run_id}")
    _point_latest(Path(args.out_root), run_dir)
    for line in closing_lines(files):
        print(line)
    return code


def closing_lines(files: ReportFiles) -> list[str]:
    """What the suite prints last: the headline (one line per scenario), then the status, the
    counts and the report's path, so the last lines of a long log say how it went and where."""
    return [*files.headline.splitlines(), files.status_line, *files.counts,
            f"report: {files.index_html}"]


def _point_latest(root: Path, run_id: str) -> None:
    """``<root>/latest`` -> the newest run, for people and CI artifact steps. Replaced atomically
    (a new link under a temporary name, renamed over the old one): a reader never finds it missing.
    A real directory named ``latest`` is left alone."""
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        return
    temporary = root / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_id)
    os.replace(temporary, latest)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM us when the parent dies (Linux parent-death signal)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def run_forwarding_signals(argv: list[str]) -> int:
    """Run ``argv``, passing SIGINT/SIGTERM/SIGHUP on to it, and return its exit status; the
    child gets SIGTERM if this process dies first."""
    # Its own process group: a terminal's Ctrl-C reaches only us, and we pass it on exactly once
    # (a second SIGINT would cut pytest's teardown short).
    child = subprocess.Popen(argv, preexec_fn=_die_with_parent, process_group=0)

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in FORWARDED_SIGNALS:
        previous[sig] = signal.signal(sig, forward)
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
