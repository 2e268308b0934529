"""Run mutants: each one on a patched copy of ``reference_runtime``, against its scenario tests.

For one mutant, in order:

1. a temp dir of this run (``harness.env.created``: recorded, named with the run id) receives a
   copy of the checkout's ``reference_runtime/``, and the mutant's patches are applied to the
   copy (a stale patch ends the mutant as ``error`` with its one-line message);
2. ``python -m pytest <targets> --sut reference -q -p no:cacheprovider`` runs in that dir, with
   the copy's parent first on ``PYTHONPATH`` and on pytest's ``pythonpath`` and as the working
   directory, so pytest and every worker it starts (``python -m harness.sut.reference.worker``
   inherits both) import the mutant; the checkout's ``harness`` and ``scenarios`` come next.
   ``harness.mutants._probe`` fails the run unless ``reference_runtime`` is the copy. pytest's
   JUnit XML, results store and output go into the temp dir;
3. the run is judged (``harness.mutants._outcome``) and the temp dir removed (``keep``: left for
   a look, until the next ``durabench sweep``).

The whole run is one durabench run (``Lifeline``): its run record says it is live, each pytest
run carries a run id under it (``<run id>-<n>``), and if this process dies its watchdog sweeps
what it left, pytest runs included. SIGINT, SIGTERM and SIGHUP stop the pytest running (it tears
down as on Ctrl-C) and end the run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.env.created import temp_dir
from harness.env.lifetime import ENV_RUN_ID, Lifeline, signals_as_interrupt
from harness.env.local import new_run_id
from harness.mutants._mutant import PACKAGE, Mutant, StaleMutantError, apply_mutant
from harness.mutants._outcome import (
    Judgement,
    Result,
    judge,
    junit_reports,
    not_true_verdicts,
)
from harness.mutants._probe import ENV_COPY

DEFAULT_TIMEOUT_S = 900.0
"""A mutant's pytest run is stopped (and judged ``error``) past this: a mutant may hang a trial
beyond its own timeouts, and a run must end."""
TEARDOWN_S = 60.0
"""After SIGTERM, how long pytest gets to tear its environment down before SIGKILL (its
watchdog then sweeps what is left)."""
SUT = "reference"


class CheckoutError(RuntimeError):
    """The harness runs from an installation without the checkout's ``scenarios/`` and
    ``reference_runtime/``; mutants need both."""


@dataclass(frozen=True)
class MutantRun:
    """One mutant's run: what it came to, why (the first failing line, the error), how long."""

    mutant: Mutant
    result: Result
    detail: str
    seconds: float


def checkout_root() -> Path:
    """The checkout this harness runs from: ``scenarios/`` and ``reference_runtime/`` beside
    ``harness/``; :class:`CheckoutError` otherwise."""
    root = Path(harness.__file__).resolve().parent.parent
    missing = [name for name in ("scenarios", PACKAGE) if not (root / name).is_dir()]
    if missing:
        raise CheckoutError(
            f"no {' or '.join(f'{m}/' for m in missing)} beside harness/ in {root}: run "
            "durabench mutants from a durabench checkout (pip install -e .)")
    return root


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_mutants(
    mutants: Sequence[Mutant],
    *,
    root: Path | None = None,
    keep: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[str], None] = _stderr,
) -> list[MutantRun]:
    """Run each mutant against its targets, in order (module doc); progress lines go to
    ``progress``. ``root``: the checkout whose ``reference_runtime`` is copied and whose
    targets run (default :func:`checkout_root`)."""
    root = checkout_root() if root is None else root
    run_id = new_run_id()
    runs: list[MutantRun] = []
    with Lifeline(run_id), signals_as_interrupt():
        for n, mutant in enumerate(mutants, 1):
            head = f"[durabench] mutant {n} of {len(mutants)}: {mutant.name}"
            progress(f"{head} ({mutant.bug_class}) against {', '.join(mutant.catches)}")
            started = time.monotonic()
            work = temp_dir(run_id, f"durabench-{run_id}-{mutant.name}-")
            try:
                judgement = _run_one(mutant, root, work, f"{run_id}-{n}", timeout_s)
            finally:
                if not keep:
                    shutil.rmtree(work, ignore_errors=True)
            run = MutantRun(mutant, judgement.result, judgement.detail,
                            time.monotonic() - started)  # fmt: skip
            runs.append(run)
            kept = f" (kept in {work})" if keep else ""
            progress(f"{head} {run.result} in {run.seconds:.0f}s: {run.detail}{kept}")
    return runs


def _run_one(mutant: Mutant, root: Path, work: Path, run_id: str, timeout_s: float) -> Judgement:
    copy = work / PACKAGE
    shutil.copytree(root / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        apply_mutant(mutant, copy)
    except StaleMutantError as exc:
        return Judgement("error", str(exc))
    junit, results, log = work / "junit.xml", work / "results.jsonl", work / "pytest.log"
    argv = [
        sys.executable, "-m", "pytest", *(str(root / target) for target in mutant.catches),
        "--sut", SUT, "-q", "-p", "no:cacheprovider", "-p", "harness.mutants._probe",
        "--rootdir", str(root), "-c", str(root / "pyproject.toml"),
        # pytest puts its ini pythonpath first; the checkout's own entry (".") must not come
        # before the copy
        "-o", f"pythonpath={shlex.quote(str(work))} {shlex.quote(str(root))}",
        "--junitxml", str(junit), "--results", str(results), "--run-id", run_id,
    ]  # fmt: skip
    code = _pytest(argv, mutant_environment(work, root, copy, run_id), work, log, timeout_s)
    if code is None:
        return Judgement("error", f"pytest still running after {timeout_s:.0f}s: stopped")
    reports = junit_reports(junit.read_text(errors="replace")) if junit.exists() else []
    verdicts = not_true_verdicts(results.read_text(errors="replace").splitlines()
                                 if results.exists() else [])  # fmt: skip
    tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
    return judge(code, reports, verdicts, tail)


def mutant_environment(work: Path, root: Path, copy: Path, run_id: str) -> dict[str, str]:
    """The environment of a mutant's pytest run: the copy's parent (``work``) first on
    ``PYTHONPATH``, then the checkout, then what was there; the copy for the probe; the run id
    as a label (a sweep of this run finds the pytest process too)."""
    path = [str(work), str(root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)),
            ENV_COPY: str(copy), ENV_RUN_ID: run_id}  # fmt: skip


def _pytest(argv: list[str], env: dict[str, str], cwd: Path, log: Path,
            timeout_s: float) -> int | None:
    """Run pytest to its end or ``timeout_s`` (then stopped: None); output into ``log``. On an
    interrupt pytest is stopped first, then the interrupt goes on."""
    with open(log, "wb") as out:
        # Its own process group: a terminal's Ctrl-C reaches only us, and we pass it on once.
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, process_group=0)  # fmt: skip
        try:
            return child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(child)
            return None
        except BaseException:
            _stop(child)
            raise


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM (pytest tears down as on Ctrl-C), then SIGKILL after :data:`TEARDOWN_S`."""
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=TEARDOWN_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
