"""``pytest --shard K/N`` (harness/shard.py): the shards of the real scenario matrix partition it,
whole groups at a time, the same way whatever the collection order or the SUTs a machine has."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.shard import DEFAULT_CASE_S, Shard, assign_groups, parse_shard

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("test_*.py"))


def _collect(*args: str) -> tuple[list[str], str]:
    """Node ids ``pytest --collect-only`` selects in the real checkout, and its summary line."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:randomly", *args],
        capture_output=True, text=True, timeout=180, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    return ids, proc.stdout.strip().splitlines()[-1]


def _groups() -> dict[str, str]:
    """Scenario file -> its ``xdist_group`` name, read from the file."""
    found: dict[str, str] = {}
    for path in SCENARIO_FILES:
        match = re.search(r'xdist_group\("([^"]+)"\)', (ROOT / path).read_text())
        found[path] = match[1] if match else path
    return found


SUTS = "--sut=reference,reference-nockpt"


def test_two_shards_partition_the_real_matrix_with_groups_intact() -> None:
    whole, _ = _collect("scenarios", SUTS)
    one, summary_one = _collect("scenarios", SUTS, "--shard", "1/2")
    two, summary_two = _collect("scenarios", SUTS, "--shard", "2/2")
    assert len(whole) > 50 and one and two
    assert sorted(one + two) == sorted(whole)  # every test in exactly one shard
    assert not set(one) & set(two)
    groups = _groups()
    assert len(set(groups.values())) == len(groups), "each scenario module is its own group"
    for shard in (one, two):
        mine = {groups[i.split("::")[0]] for i in shard}
        other = {groups[i.split("::")[0]] for i in (two if shard is one else one)}
        assert not mine & other, f"groups split across shards: {mine & other}"
    # the others are deselected, not skipped
    assert f"{len(one)}/{len(whole)} tests collected ({len(two)} deselected)" in summary_one
    assert f"{len(two)}/{len(whole)} tests collected ({len(one)} deselected)" in summary_two


def test_the_split_ignores_collection_order_and_the_machine_s_suts() -> None:
    """Files named in another order, or another SUT list (``--sut all`` resolves to the SUTs a
    machine has), give each shard the same scenario files."""

    def files(*args: str) -> set[str]:
        return {i.split("::")[0] for i in _collect(*args, "--shard", "1/2")[0]}

    base = files(*SCENARIO_FILES, SUTS)
    assert base == files(*reversed(SCENARIO_FILES), SUTS)
    assert base == files(*SCENARIO_FILES, "--sut=reference", "--seeds=2")
    assert base and base != set(SCENARIO_FILES)


@pytest.mark.parametrize(("text", "needle"), [
    ("3/2", "K must be 1..N"), ("0/2", "K must be 1..N"), ("1/0", "K must be 1..N"),
    ("x", "expected K/N"), ("1-2", "expected K/N"), ("", "expected K/N"),
])
def test_a_bad_shard_is_a_one_line_usage_error(pytester: pytest.Pytester, text: str,
                                               needle: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(f"--shard={text}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and needle in errors[0] and "--shard 1/2" in errors[0], errors


def test_parse_shard() -> None:
    assert parse_shard("2/3") == Shard(2, 3) and str(parse_shard(" 1 / 1 ")) == "1/1"


def test_groups_go_heaviest_first_to_the_lightest_shard() -> None:
    weights = {"kill": 8, "pause": 4, "oom": 4, "evict": 2, "degrade": 1, "fanout": 1}
    assigned = assign_groups(weights, 2)
    assert assigned == {"kill": 1, "oom": 2, "pause": 2, "evict": 1, "degrade": 2, "fanout": 2}
    assert assign_groups(dict(reversed(weights.items())), 2) == assigned
    assert set(assign_groups(weights, 10).values()) == set(range(1, 7))  # 6 groups, 10 shards


def test_run_lines_record_the_shard_and_other_groups_are_deselected(
        pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    for group, cases in (("alpha", 3), ("beta", 2)):
        (scenarios / f"test_{group}.py").write_text(
            f"import pytest\npytestmark = pytest.mark.xdist_group({group!r})\n"
            f"@pytest.mark.parametrize('n', range({cases}))\ndef test_s(n):\n    pass\n")
    results = pytester.path / "r.jsonl"
    outcome = pytester.runpytest_subprocess("scenarios", "--results", str(results),
                                            "--run-id", "shard-test-1", "--shard", "2/2")
    outcome.assert_outcomes(passed=2, deselected=3)  # alpha (3) is shard 1, beta shard 2
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(x["planned"], x.get("finished"), x["shard"]) for x in lines] == [
        (2, None, "2/2"), (2, 2, "2/2")]


def test_a_group_weighs_its_cases_by_their_marked_seconds(pytester: pytest.Pytester) -> None:
    """One long case (a crash sweep) outweighs many short ones: by their time, not their count."""
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "test_long.py").write_text(
        "import pytest\npytestmark = [pytest.mark.xdist_group('long'), "
        "pytest.mark.durabench_case_s(100)]\ndef test_s():\n    pass\n")
    for group in ("short_a", "short_b"):
        (scenarios / f"test_{group}.py").write_text(
            f"import pytest\npytestmark = pytest.mark.xdist_group({group!r})\n"
            "@pytest.mark.parametrize('n', range(3))\ndef test_s(n):\n    pass\n")
    assert 3 * DEFAULT_CASE_S < 100  # by count the long group would share a shard
    one = pytester.runpytest_subprocess("scenarios", "--shard", "1/2", "-p", "no:cacheprovider")
    one.assert_outcomes(passed=1, deselected=6)  # the long case alone
    two = pytester.runpytest_subprocess("scenarios", "--shard", "2/2", "-p", "no:cacheprovider")
    two.assert_outcomes(passed=6, deselected=1)


def test_a_bad_case_weight_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\npytestmark = pytest.mark.durabench_case_s('slow')\n"
                        "def test_s():\n    pass\n")
    result = pytester.runpytest_subprocess("--shard", "1/2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "durabench_case_s takes the seconds a case takes" in result.stderr.str()
