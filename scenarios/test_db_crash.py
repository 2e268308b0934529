"""db_crash: Postgres immediate shutdown mid-workflow, restarted after a few seconds.

Workers must ride it out (the runtime reconnects with backoff) or be replaced; nothing recorded is
lost and no workflow is left pending. The crash lands while a tool runs (its step's commit hits a
dead server) and while an LLM call is in flight. For a SUT whose durable store is its own server
(Temporal's dev server) that server is crashed instead; a known finding of the SUT shows as an
xfail with its explanation.
"""

from __future__ import annotations

import pytest

from harness import DbCrashFault, TrialRunner, get_sut, known_finding, research_trial

pytestmark = [pytest.mark.xdist_group("db_crash"), pytest.mark.durabench_case_s(8)]


@pytest.mark.parametrize("crash", ["between_steps", "mid_step_late"])
def test_db_crash_is_ridden_out(trials: TrialRunner, sut: str, crash: str, seed: int) -> None:
    result = trials.run(research_trial("db_crash", sut, DbCrashFault(down_s=2.0), crash,
                                       seed=seed))  # fmt: skip
    trials.require_valid(result)
    if get_sut(sut).checkpointing:
        golden = result.history.golden
        assert golden is not None
        recorded = [s for s in result.history.steps if s.kind == "llm"]
        assert len(recorded) == len(golden.step_tokens), "every LLM step recorded exactly once"
        finding = known_finding(sut, "db_crash", crash)
        if result.figures.redundant_tokens and finding:
            pytest.xfail(f"{result.figures.redundant_tokens} redundant tokens: {finding}")
        assert result.figures.redundant_tokens == 0, "a database outage costs no LLM tokens"
