"""The chaos suite. The durabench pytest plugin (installed with the package) provides the fixtures
``trials``, ``durabench_sut`` and ``durabench_seed`` and the options ``--env --sut --seeds
--results --trial-timeout``.

Here ``sut`` and ``seed`` are short names for the plugin's ``durabench_sut`` and
``durabench_seed``: a test that takes ``sut`` runs once per SUT selected by ``--sut`` (default:
every installed SUT) and never lists SUT names itself; comparisons find a SUT's checkpointing-off
twin with ``trials.twin_of(sut)``.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def sut(durabench_sut: str) -> str:
    return durabench_sut


@pytest.fixture
def seed(durabench_seed: int) -> int:
    return durabench_seed
