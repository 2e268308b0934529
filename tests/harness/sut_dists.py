"""Fake distributions that register SUTs, for tests of the registry and the plugin.

:func:`register` writes a module and a ``<dist>-0.1.dist-info`` (METADATA + entry_points.txt)
into a directory; with that directory on ``sys.path`` (or ``PYTHONPATH``), ``importlib.metadata``
finds the entry points exactly as it finds an installed distribution's.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def register(root: Path, dist: str, modules: Mapping[str, str], suts: Mapping[str, str]) -> Path:
    """Write ``modules`` (name -> source) and a dist-info registering ``suts`` (entry point
    name -> ``module:attr``) under the group ``durabench.suts``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"  # as pip names it
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {value}\n" for name, value in suts.items())
    (info / "entry_points.txt").write_text(f"[durabench.suts]\n{lines}")
    return root


UNAVAILABLE_SUT = """
    from dataclasses import dataclass

    from harness.sut.reference import NOCKPT_PROMISES, ReferenceSut


    @dataclass(frozen=True)
    class NotInstalled(ReferenceSut):
        def available(self):
            return "fakedb is not installed; run: pip install 'durabench[fakedb]'"


    SUT = NotInstalled("{name}", checkpointing=False, promises=NOCKPT_PROMISES)
"""

BROKEN_IMPORT = """
    import fakedb_runtime_that_does_not_exist  # noqa: F401

    SUT = None
"""

MISSING_PARTS = """
    class HalfDone:
        name = "{name}"
        checkpointing = True

        def worker_command(self, spec):
            raise NotImplementedError


    SUT = HalfDone()
"""
