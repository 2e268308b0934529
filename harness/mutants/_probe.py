"""The pytest plugin every mutant run loads (``-p harness.mutants._probe``).

It stops the run with a usage error (pytest exit 4, judged ``error``) unless the process imported
``reference_runtime`` from the mutant's copy, named by :data:`ENV_COPY`: a run that tested the
tree instead would report a mutant missed that was never run. The worker processes the run
starts inherit its working directory (the copy's parent, first on their ``sys.path`` under
``python -m``) and its ``PYTHONPATH`` (the copy's parent first), so they import the copy too
(``tests/test_mutants.py`` proves it with a worker process).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_COPY = "DURABENCH_MUTANT_COPY"
"""The mutant's copy of ``reference_runtime`` (a directory) that this run must import."""


def imported_from() -> Path:
    """The directory this process imports ``reference_runtime`` from."""
    import reference_runtime

    return Path(reference_runtime.__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    copy = os.environ.get(ENV_COPY)
    if not copy:
        return
    where = imported_from()
    if where != Path(copy).resolve():
        raise pytest.UsageError(
            f"durabench mutants: this run imports reference_runtime from {where}, not from the "
            f"mutant's copy {copy}; it would test the tree, not the mutant")
