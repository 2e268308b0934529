"""Mutants: deliberately broken variants of the reference runtime, each run against the scenario
meant to catch it -- mutation testing of the chaos suite itself (``durabench mutants``;
docs/mutants.md). The point: every class of recovery bug is seen failing.

- :mod:`harness.mutants._mutant` -- a mutant (:class:`Mutant`, :class:`Patch`) and how it patches
  a copy (:func:`apply_mutant`; :class:`StaleMutantError`);
- :mod:`harness.mutants._catalog` -- the catalog (:data:`MUTANTS`), one per class of bug;
- :mod:`harness.mutants._run` -- runs: the copy, the pytest run against it, its outcome
  (:func:`run_mutants`, :class:`MutantRun`);
- :mod:`harness.mutants._outcome` -- caught / missed / error from pytest's exit status, JUnit XML
  and the results store (pure functions);
- :mod:`harness.mutants._probe` -- the pytest plugin each run loads: it refuses a run that does
  not import the copy;
- :mod:`harness.mutants._cli` -- ``durabench mutants``.
"""

from harness.mutants._catalog import MUTANTS
from harness.mutants._cli import MutantUsageError, select
from harness.mutants._mutant import (
    PACKAGE,
    BugClass,
    Mutant,
    Patch,
    StaleMutantError,
    apply_mutant,
)
from harness.mutants._outcome import CaseReport, Judgement, Result, judge, junit_reports
from harness.mutants._run import CheckoutError, MutantRun, checkout_root, run_mutants

__all__ = [
    "MUTANTS",
    "PACKAGE",
    "BugClass",
    "CaseReport",
    "CheckoutError",
    "Judgement",
    "Mutant",
    "MutantRun",
    "MutantUsageError",
    "Patch",
    "Result",
    "StaleMutantError",
    "apply_mutant",
    "checkout_root",
    "judge",
    "junit_reports",
    "run_mutants",
    "select",
]
