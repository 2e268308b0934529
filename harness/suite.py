"""``durabench suite``: the main job — run the chaos suite, then write its report.

Steps: a run id -> ``pytest scenarios/ --sut all`` (every installed SUT, unless ``--sut`` names
others) with the durabench plugin, appending every trial to
``<out-root>/<run id>/results.jsonl`` (progress: one line per trial) -> ``durabench report`` into
the same directory -> print the report path and the headline. The exit status is pytest's, so a
false or unknown verdict fails the job, but the report is written either way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from harness.env.local import new_run_id


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="*", default=["scenarios"], metavar="PATH",
                        help="scenario files or directories (default: scenarios)")
    parser.add_argument("--out-root", default="reports", metavar="DIR",
                        help="where the run's directory is created (default: reports)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per trial")
    parser.add_argument("--sut", default="all",
                        help="registered SUT names, comma-separated, or 'all': every SUT "
                             "installed here (the default; `durabench suts` lists them)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="parallel pytest workers (pytest-xdist; default: 2)")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                        help="extra argument passed to pytest (repeatable)")


def _pytest_argv(args: argparse.Namespace, results: Path) -> list[str]:
    argv = [sys.executable, "-m", "pytest", *args.scenarios, "--results", str(results),
            "--seeds", str(args.seeds), "-p", "no:cacheprovider", "-q", "-rfE"]  # fmt: skip
    argv += ["--sut", args.sut]
    if args.workers > 1:
        # One scenario module per worker process: its trials and their cache stay together, so
        # no trial is run (and recorded) twice (scenario modules carry an xdist_group mark).
        argv += ["-n", str(args.workers), "--dist", "loadgroup"]
    return argv + list(args.pytest_arg)


def run_suite(args: argparse.Namespace) -> int:
    missing = [p for p in args.scenarios if not Path(p).exists()]
    if missing:
        print(f"durabench suite: {', '.join(missing)} not found; run it from a durabench "
              "checkout or name the scenario files", file=sys.stderr)  # fmt: skip
        return 2
    from harness.report import load_results, write_report

    run_id = new_run_id()
    out_dir = Path(args.out_root) / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.jsonl"
    print(f"durabench suite: run {run_id}; results -> {results}", flush=True)
    t0 = time.monotonic()
    code = subprocess.call(_pytest_argv(args, results))
    print(f"durabench suite: scenarios finished in {time.monotonic() - t0:.0f}s "
          f"(pytest exit {code})", flush=True)  # fmt: skip
    if not results.exists():
        print("durabench suite: no trial was recorded, so there is no report", file=sys.stderr)
        return code or 1
    files = write_report(load_results([results]), out_dir, title=f"durabench run {run_id}")
    _point_latest(Path(args.out_root), run_id)
    print(f"report: {files.index_html}")
    print(files.headline)
    return code


def _point_latest(root: Path, run_id: str) -> None:
    """``<root>/latest`` -> the newest run, for people and CI artifact steps."""
    latest = root / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(run_id)
