"""The durabench pytest plugin, exercised through real pytest runs (pytester)."""

from __future__ import annotations

import pytest

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
        ["*unknown SUT(s) dbos-nope*valid SUTs: reference, reference-nockpt*"]
    )


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
        import pytest

        @pytest.mark.parametrize("sut", ["reference", "reference-nockpt"])
        def test_grid(sut, seed):
            assert seed in (0, 1, 2)
        """
    )
    result = pytester.runpytest("--seeds", "3", "--sut", "reference", "-v")
    result.assert_outcomes(passed=3, deselected=3)
    result.stdout.fnmatch_lines(["*test_grid?seed2-reference? PASSED*"])


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
    pytester.makepyfile("def test_model(model): assert model == 'mock-claude-sonnet-5.5'")
    pytester.runpytest("--model", "mock-claude-sonnet-5.5").assert_outcomes(passed=1)
    result = pytester.runpytest("--model", "gpt-nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model: unknown model 'gpt-nope'*mock-gpt-6.2-sol*"])
