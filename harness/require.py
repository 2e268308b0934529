"""Capabilities a machine may lack, and what to do when one is missing.

Where a capability cannot run (no writable memory cgroup, no Chromium, no Docker engine, no real
Toxiproxy), its tests skip with the reason. CI names what it can run in ``DURABENCH_REQUIRE``
(comma-separated), and those skips fail instead, so a green CI cannot hide a capability that
silently stopped working. Values: ``oom``, ``db_crash``, ``chromium``, ``toxiproxy``, ``docker``,
and the name of any registered SUT (e.g. ``dbos``, ``temporal``, ``langgraph``: a SUT whose
runtime is not installed fails instead of skipping, and ``--sut all`` includes it).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

ENV_REQUIRE = "DURABENCH_REQUIRE"
CAPABILITIES = ("oom", "db_crash", "chromium", "toxiproxy", "docker")


def required() -> frozenset[str]:
    names = {n.strip() for n in os.environ.get(ENV_REQUIRE, "").split(",") if n.strip()}
    unknown = names - set(CAPABILITIES)
    if unknown:
        from harness.sut import sut_names  # entry point metadata only; no SUT is imported

        valid = (*CAPABILITIES, *sut_names())
        unknown = {n for n in unknown if n.partition("==")[0].strip() not in valid}
        if unknown:
            raise pytest.UsageError(
                f"{ENV_REQUIRE} names unknown capabilities {sorted(unknown)}; "
                f"valid: {', '.join(valid)}"
            )
    return frozenset(names)


def skip_or_fail(capability: str, reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when ``DURABENCH_REQUIRE`` names ``capability``."""
    if capability in required():
        pytest.fail(f"{ENV_REQUIRE} requires {capability!r}, but {reason}", pytrace=False)
    pytest.skip(f"{capability} unavailable: {reason}")
