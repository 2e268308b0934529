"""Bad input at the runtime's boundary is one line (or the runtime's own error), never a raw
traceback or a workflow row no worker can ever run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rt_support import RuntimeFactory

from reference_runtime import InvalidWorkflowError
from tests.reference_runtime import apps

ROOT = Path(__file__).resolve().parents[2]


def test_an_unknown_workflow_name_raises_at_once_and_stores_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    with pytest.raises(InvalidWorkflowError, match="no workflow named 'nosuch'"):
        rt.start_workflow("nosuch", workflow_id="never-stored")
    assert rt.get_workflow("never-stored") is None


@pytest.mark.parametrize(("workflow_id", "args"), [
    ("nul\x00id", ("x",)),
    ("nul-arg", ("a\x00b",)),
    ("nul-key", ({"k\x00": 1},)),
    ("nul-deep", ([{"k": ["ok", "no\x00"]}],)),
])
def test_a_nul_character_is_the_runtimes_own_error(
    make_runtime: RuntimeFactory, workflow_id: str, args: tuple[object, ...]
) -> None:
    rt = make_runtime()
    with pytest.raises(InvalidWorkflowError, match="NUL character"):
        rt.start_workflow(apps.branching, *args, workflow_id=workflow_id)
    assert rt.list_workflows() == []


def _worker(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reference_runtime", "worker", *args], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), str(tmp_path)))},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_an_app_module_that_raises_on_import_is_one_line(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "broken_app_mod.py").write_text("raise RuntimeError('config missing')\n")
    proc = _worker(tmp_path, "--dsn", pg_url, "--app", "broken_app_mod:app")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "raised RuntimeError: config missing" in proc.stderr


@pytest.mark.parametrize("dsn", ["not a dsn", "postgresql://u:hunter2secret@h:5432/d?bogus=1"])
def test_a_malformed_dsn_is_one_line(tmp_path: Path, dsn: str) -> None:
    proc = _worker(tmp_path, "--dsn", dsn, "--app", "tests.reference_runtime.apps:app")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "--dsn is not a Postgres URL" in proc.stderr and "hunter2secret" not in proc.stderr
