from __future__ import annotations

import pytest
from checker_histories import clean_run, crash_run, led, with_

from harness.checkers import CHECKERS, NOT_PROMISED, Verdict, compose, judge
from harness.history import (
    PROPERTIES,
    History,
    Property,
    Validity,
    history_from_json,
    to_json,
)

ALL: frozenset[Property] = frozenset(PROPERTIES)
NOCKPT_PROMISES: frozenset[Property] = frozenset(
    {"terminates", "single_outcome", "output_consistency", "effects_once",
     "single_active_execution"})


def test_registry_covers_every_property() -> None:
    assert set(CHECKERS) == set(PROPERTIES)


@pytest.mark.parametrize(("validities", "expected"), [
    ((), "true"),
    (("true", "true"), "true"),
    (("true", "unknown"), "unknown"),
    (("unknown", "true", "false"), "false"),
    (("false", "unknown"), "false"),
    (("unknown", "unknown"), "unknown"),
])
def test_compose_ranks_false_over_unknown_over_true(validities: tuple[Validity, ...],
                                                    expected: Validity) -> None:
    assert compose(validities) == expected
    assert compose(Verdict("terminates", v, "x") for v in validities) == expected


def test_compose_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a validity"):
        compose(["maybe"])  # type: ignore[list-item]


def test_raising_checker_becomes_unknown_with_the_error_text() -> None:
    def broken(history: History) -> Verdict:
        raise KeyError("ledger entry without a step")

    checkers = {**CHECKERS, "terminates": broken}
    judgement = judge(clean_run(), frozenset({"terminates", "single_outcome"}), checkers)
    verdict = judgement.verdicts["terminates"]
    assert verdict.valid == "unknown"
    assert "KeyError" in verdict.details and "ledger entry without a step" in verdict.details
    assert judgement.valid == "unknown"
    assert judgement.verdicts["single_outcome"].valid == "true"


def test_checker_answering_for_another_property_becomes_unknown() -> None:
    checkers = {**CHECKERS, "terminates": CHECKERS["single_outcome"]}
    judgement = judge(clean_run(), frozenset({"terminates"}), checkers)
    assert judgement.verdicts["terminates"].valid == "unknown"


@pytest.mark.parametrize(("name", "trial", "promised", "expected"), [
    ("reference resumes correctly", crash_run(), ALL, "true"),
    ("nockpt reruns correctly", crash_run(checkpointing=False), NOCKPT_PROMISES, "true"),
    ("nockpt would fail no_replay/bounded_waste if promised",
     crash_run(checkpointing=False), ALL, "unknown"),
    ("replayed step", with_(crash_run(), ledger=(
        *crash_run().ledger, led(1, 3.9, attempt=2, executor="w2"))), ALL, "false"),
    ("no fault fired: no_replay unknown", clean_run(), ALL, "unknown"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_judge_composes_promised_only(name: str, trial: History,
                                      promised: frozenset[Property],
                                      expected: Validity) -> None:
    judgement = judge(trial, promised)
    assert set(judgement.verdicts) == set(PROPERTIES)
    assert judgement.valid == expected, judgement.summary()


def test_non_promised_properties_are_reported_as_not_promised() -> None:
    judgement = judge(crash_run(checkpointing=False), NOCKPT_PROMISES)
    report = judgement.as_json()
    assert list(report) == list(PROPERTIES)
    assert report["no_replay"] == NOT_PROMISED
    assert report["bounded_waste"] == NOT_PROMISED
    assert report["terminates"] == "true"
    # their own verdicts are unknown, yet they do not drag the trial down
    assert judgement.verdicts["no_replay"].valid == "unknown"
    assert judgement.valid == "true"


def test_a_false_non_promised_property_does_not_decide_the_trial() -> None:
    replayed = with_(crash_run(), ledger=(*crash_run().ledger,
                                          led(1, 3.9, attempt=2, executor="w2")))
    judgement = judge(replayed, frozenset({"terminates", "single_outcome"}))
    assert judgement.verdicts["no_replay"].valid == "false"
    assert judgement.as_json()["no_replay"] == NOT_PROMISED
    assert judgement.valid == "true"


def test_summary_explains_each_non_true_promised_verdict() -> None:
    replayed = with_(crash_run(), ledger=(*crash_run().ledger,
                                          led(1, 3.9, attempt=2, executor="w2")))
    text = judge(replayed, ALL).summary()
    assert "trial verdict: false" in text
    assert "no_replay: false (workflow wf-1)" in text
    assert "logical llm step 1" in text
    assert "ledger fault+1.700s wf=wf-1 step=1 attempt=2" in text  # evidence, relative time
    assert "terminates" not in text  # true verdicts are not explained
    assert "all 7 promised properties hold" in judge(crash_run(), ALL).summary()


def test_unknown_promised_property_is_rejected() -> None:
    with pytest.raises(ValueError, match="no checker"):
        judge(clean_run(), frozenset({"terminates"}), {})


def test_verdicts_survive_a_json_round_trip_of_the_history() -> None:
    trial = crash_run()
    again = history_from_json(to_json(trial))
    assert judge(again, ALL).as_json() == judge(trial, ALL).as_json()
