from __future__ import annotations

import pytest

from harness.faults import AckLossFault, PartitionFault, PauseFault
from harness.trial import Recovery
from harness.triggers import CRASH_POINTS, ProviderRule, Trigger, crash_point


@pytest.mark.parametrize(
    ("name", "kind", "call", "trigger_step", "step"),
    [
        ("mid_step_early", "received", None, 1, 1),
        ("between_steps", "delivered", 3, None, 2),
        ("mid_step_late", "received", None, 4, 4),
    ],
)
def test_crash_points_of_a_six_call_loop(name: str, kind: str, call: int | None,
                                         trigger_step: int | None, step: int) -> None:
    trigger, crash_step = crash_point(name, calls=6, tool_latency_s=0.2)
    assert (trigger.kind, trigger.call, trigger.step, crash_step) == (
        kind, call, trigger_step, step)


def test_crash_points_are_ordered_by_depth() -> None:
    steps = [crash_point(n, calls=8, tool_latency_s=0.1)[1] for n in CRASH_POINTS]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)


def test_between_steps_settles_inside_the_tool() -> None:
    trigger, _ = crash_point("between_steps", calls=6, tool_latency_s=0.4)
    assert trigger.settle_s == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "sometime"}, "valid: received, delivered"),
        ({"kind": "received"}, "needs call="),
        ({"kind": "checkpointed"}, "needs step="),
        ({"kind": "after"}, "needs seconds="),
    ],
)
def test_bad_triggers_say_what_is_valid(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Trigger(**kwargs)  # type: ignore[arg-type]


def test_unknown_crash_point_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="mid_step_early, between_steps, mid_step_late"):
        crash_point("mid_step_middle", calls=6, tool_latency_s=0.1)


def test_trigger_json_is_minimal_and_round_trips() -> None:
    trigger = Trigger("delivered", call=3, settle_s=0.1)
    assert trigger.to_json() == {"kind": "delivered", "call": 3, "settle_s": 0.1}
    assert Trigger("random", window_s=(1.0, 2.0), seed=7).to_json() == {
        "kind": "random", "window_s": [1.0, 2.0], "seed": 7,
    }


def test_a_received_trigger_may_name_a_step_instead_of_a_call() -> None:
    assert Trigger("received", step=3).to_json() == {"kind": "received", "step": 3}
    with pytest.raises(ValueError, match="call="):
        Trigger("received")
    rule = ProviderRule("fail", step=2, status=503, count=1000)
    assert rule.to_json() == {"action": "fail", "step": 2, "status": 503, "count": 1000}


def test_fault_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="pause order"):
        PauseFault(order="whenever")
    with pytest.raises(ValueError, match="ack_loss"):
        AckLossFault(mode="drop")
    assert AckLossFault(mode="kill").kills_worker and not AckLossFault().kills_worker
    with pytest.raises(ValueError, match=r"last_step= .* and lease_s="):
        PauseFault(order="outcome_zombie_first", last_step=6)
    assert PauseFault(order="outcome_zombie_first", last_step=6, lease_s=5.0).lease_s == 5.0
    with pytest.raises(ValueError, match=r"effect_zombie_first order needs last_step="):
        PauseFault(order="effect_zombie_first", lease_s=5.0)
    with pytest.raises(ValueError, match="valid: down, timeout, stall"):
        PartitionFault(mode="sever")


def test_own_links_need_standbys_and_show_in_the_trial_id() -> None:
    with pytest.raises(ValueError, match="own_links needs standbys"):
        Recovery("restart", own_links=True)
    assert Recovery("standby", own_links=True).label == "standby_ownlinks"
    assert Recovery("standby", standbys=3).label == "standby3"


def test_concurrent_hand_overs_are_the_supervisors_and_show_in_the_trial_id() -> None:
    assert Recovery("supervised", standbys=2, handovers=2).label == "supervised2_handovers2"
    with pytest.raises(ValueError, match="need policy supervised"):
        Recovery("standby", standbys=2, handovers=2)
    with pytest.raises(ValueError, match="as many live executors"):
        Recovery("supervised", standbys=1, handovers=2)
    with pytest.raises(ValueError, match="at least 1"):
        Recovery("supervised", handovers=0)
