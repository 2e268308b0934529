"""The durabench pytest plugin, exercised through real pytest runs (pytester)."""

from __future__ import annotations

import pytest
from sut_dists import BROKEN_IMPORT, MISSING_PARTS, UNAVAILABLE_SUT, register

from harness.sut import available_sut_names

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_inherited_requirements(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI sets DURABENCH_REQUIRE; each test here sets what it means to test."""
    monkeypatch.delenv("DURABENCH_REQUIRE", raising=False)


def test_options_live_in_the_durabench_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["durabench chaos suite:", "*--env*", "*--sut*", "*--seeds*",
                                 "*--results*", "*--trial-timeout*"])  # fmt: skip


def test_an_unknown_sut_is_a_usage_error_listing_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--sut", "reference,dbos-nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown SUT(s) dbos-nope*valid SUTs: *plain, *reference, reference-nockpt* or all*"]
    )


def test_a_sut_name_is_a_capability_that_can_be_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABENCH_REQUIRE", "oom,plain")
    pytester.makepyfile("def test_nothing(): pass")
    pytester.runpytest().assert_outcomes(passed=1)


def test_an_unknown_required_capability_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DURABENCH_REQUIRE", "oom,gpu")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*DURABENCH_REQUIRE names unknown capabilities*gpu*valid: oom*"])


def test_seeds_and_sut_selection_shape_the_grid(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_grid(durabench_sut, durabench_seed):
            assert durabench_seed in (0, 1, 2)
        """
    )
    result = pytester.runpytest("--seeds", "3", "--sut", "reference,plain", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*test_grid?plain-seed2? PASSED*"])
    every = pytester.runpytest("--sut", "all", "-v")
    every.assert_outcomes(passed=len(available_sut_names()))
    every.stdout.fnmatch_lines(["*test_grid?plain-seed0?*", "*test_grid?reference-seed0?*",
                                "*test_grid?reference-nockpt-seed0?*"])  # fmt: skip


def test_a_test_that_lists_its_own_suts_is_trimmed_to_the_selection(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("durabench_sut", ["reference", "reference-nockpt"])
        def test_pair(durabench_sut):
            pass
        """
    )
    result = pytester.runpytest("--sut", "reference", "-m", "durabench")
    result.assert_outcomes(passed=1, deselected=1)


def test_another_project_s_seed_and_sut_tests_are_untouched(pytester: pytest.Pytester) -> None:
    """Installing durabench must not change tests that never asked for it."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def seed():
            return 42
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_own_seed(seed):
            assert seed == 42

        @pytest.mark.parametrize("sut", ["sqlite", "mysql"])
        def test_own_sut(sut, seed):
            assert sut in ("sqlite", "mysql") and seed == 42

        def test_not_marked(request):
            assert request.node.get_closest_marker("durabench") is None
        """
    )
    for args in ([], ["--sut", "reference", "--seeds", "3"]):
        result = pytester.runpytest(*args, "-v")
        result.assert_outcomes(passed=4)
        result.stdout.no_fnmatch_line("*deselected*")
        result.stdout.no_fnmatch_line("*[[]durabench[]]*")
        result.stdout.fnmatch_lines(["*test_own_seed PASSED*", "*test_own_sut?sqlite? PASSED*"])


FAKES = {
    "fakedb": ("fake_suts_unavailable", UNAVAILABLE_SUT.format(name="fakedb")),
    "broken": ("fake_suts_broken", BROKEN_IMPORT),
    "half": ("fake_suts_half", MISSING_PARTS.format(name="half")),
}


def _fake_sut(pytester: pytest.Pytester, name: str) -> None:
    module, source = FAKES[name]
    register(pytester.path / "dists", "fake-suts-dist", {module: source},
             {name: f"{module}:SUT"})  # fmt: skip
    pytester.syspathinsert(pytester.path / "dists")


def test_an_unavailable_sut_skips_with_its_install_command_or_fails_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_sut(pytester, "fakedb")
    pytester.makepyfile("def test_trial(durabench_sut): pass")
    result = pytester.runpytest("--sut", "fakedb,reference", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*fakedb unavailable*pip install 'durabench?fakedb?'*"])
    # all = what can run here: fakedb is registered but not installed
    pytester.runpytest("--sut", "all").assert_outcomes(passed=len(available_sut_names()))
    monkeypatch.setenv("DURABENCH_REQUIRE", "fakedb")
    required = pytester.runpytest("--sut", "all")
    required.assert_outcomes(passed=len(available_sut_names()), errors=1)  # fakedb errors
    required.stdout.fnmatch_lines(
        ["*DURABENCH_REQUIRE requires 'fakedb', but fakedb is not installed*durabench?fakedb?*"])


@pytest.mark.parametrize(("name", "expected"), [
    ("broken", "*entry point 'broken' = 'fake_suts_broken:SUT' of distribution 'fake-suts-dist'"
               "*failed to import: ModuleNotFoundError*"),
    ("half", "*'fake-suts-dist'*does not follow the SUT protocol: HalfDone lacks promises*"),
])  # fmt: skip
def test_a_broken_sut_is_a_usage_error_naming_its_distribution(
    pytester: pytest.Pytester, name: str, expected: str
) -> None:
    _fake_sut(pytester, name)
    pytester.makepyfile("def test_trial(durabench_sut): pass")
    result = pytester.runpytest("--sut", name)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    pytester.runpytest("--sut", "reference").assert_outcomes(passed=1)  # loaded only if chosen
    every = pytester.runpytest("--sut", "all")  # resolved during collection, same error
    assert every.ret == pytest.ExitCode.USAGE_ERROR
    every.stderr.fnmatch_lines([expected])


def test_a_skipped_capability_fails_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        from harness.require import skip_or_fail

        def test_needs_oom():
            skip_or_fail("oom", "no writable memory cgroup")
        """
    )
    pytester.runpytest().assert_outcomes(skipped=1)
    monkeypatch.setenv("DURABENCH_REQUIRE", "oom")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*DURABENCH_REQUIRE requires 'oom', but no writable memory*"])


def test_an_unknown_model_is_a_usage_error_listing_the_priced_ones(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "def test_model(durabench_model): assert durabench_model == 'mock-claude-sonnet-5.5'")
    pytester.runpytest("--model", "mock-claude-sonnet-5.5").assert_outcomes(passed=1)
    result = pytester.runpytest("--model", "gpt-nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model: unknown model 'gpt-nope'*mock-gpt-6.2-sol*"])
