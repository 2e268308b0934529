"""docs/extending.md works: its out-of-tree package is written from the page, registered the way
its pyproject.toml declares, and its scenario file runs real kill and stall trials via pytest.

The package is registered as pip would install it (a ``.dist-info`` whose ``entry_points.txt`` is
generated from the page's ``pyproject.toml``) in a temporary directory put on ``PYTHONPATH`` of a
separate pytest process, so nothing is installed into this environment and nothing is left
behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "extending.md"
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)


def _files() -> dict[str, str]:
    files = dict(FILE_BLOCK.findall(DOC.read_text()))
    assert {"pyproject.toml", "acme_durable/sut.py", "acme_durable/worker.py",
            "acme_durable/workloads.py", "acme_durable/faults.py",
            "tests/test_acme_chaos.py"} <= set(files), sorted(files)  # fmt: skip
    return files


def _register(project: Path, site: Path) -> None:
    """What ``pip install`` leaves in site-packages: the package and its dist-info."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    (site / "acme_durable").symlink_to(project / "acme_durable")
    info = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    groups = meta["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
        for group, eps in groups.items()))  # fmt: skip


@pytest.mark.slow
def test_the_out_of_tree_sut_of_the_docs_runs_real_trials(tmp_path: Path) -> None:
    project, site = tmp_path / "acme-durable", tmp_path / "site"
    for name, text in _files().items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    site.mkdir()
    _register(project, site)
    env = {**os.environ, "PYTHONPATH": str(site), "DURABENCH_REQUIRE": "acme"}

    listing = subprocess.run([sys.executable, "-m", "harness.cli", "suts", "--json"], env=env,
                             capture_output=True, text=True, timeout=120, cwd=project)
    suts = {e["name"]: e for e in map(json.loads, listing.stdout.splitlines())}
    assert listing.returncode == 0, listing.stderr
    assert suts["acme"]["distribution"] == "acme-durable" and suts["acme"]["twin"] == "plain"

    results = tmp_path / "acme.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_acme_chaos.py", "--sut", "acme",
         "--results", str(results), "-p", "no:cacheprovider", "-q", "-rfEs",
         "--trial-timeout", "60"],
        env=env, capture_output=True, text=True, timeout=600, cwd=project)  # fmt: skip
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert "2 passed" in run.stdout, run.stdout[-2000:]
    trials = [json.loads(line) for line in results.read_text().splitlines()]
    faulted = {t["scenario"]: t for t in trials if t["kind"] == "trial"}
    assert set(faulted) == {"acme-kill", "acme-stall"}
    assert all(t["sut"] == "acme" and t["valid"] == "true" for t in faulted.values())
    kill = faulted["acme-kill"]
    assert kill["verdicts"]["no_replay"] == "true"
    assert any(e["kind"] == "worker_exited" and e["detail"].get("stopped_by") == "died"
               for e in kill["history"]["events"]), "the kill never killed a worker"
