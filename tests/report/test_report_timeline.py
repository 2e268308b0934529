"""The timeline's fault windows: one per fault, follow-up faults included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.history import HarnessEvent, History, LedgerEntry, to_json
from harness.report._timeline import FaultWindow, fault_windows, timeline_chart

S = 1_000_000_000


def _event(kind: Any, at_s: float, index: int | None, fault: str = "kill") -> HarnessEvent:
    detail: dict[str, Any] = {"fault": fault}
    if index is not None:
        detail["index"] = index
    return HarnessEvent(round(at_s * S), kind, detail=detail)


def _history(*events: HarnessEvent) -> History:
    call = LedgerEntry("r", "wf", 0, 1, "w1", "m", S // 2, S, 200, 1, 1, 0.0, True)
    return History("t", ("wf",), True, ledger=(call,), events=events, started_ns=0,
                   ended_ns=9 * S)  # fmt: skip


@pytest.mark.parametrize(("events", "windows"), [
    # one fault, as every trial before follow-ups: no index
    ((_event("fault_fired", 1, None), _event("fault_healed", 1.5, None)),
     [FaultWindow(0, "kill", 1 * S, round(1.5 * S))]),
    # a follow-up on the claim: two windows, one after the other
    ((_event("fault_fired", 1, 0), _event("fault_healed", 1.1, 0),
      _event("fault_fired", 3, 1), _event("fault_healed", 3.1, 1)),
     [FaultWindow(0, "kill", 1 * S, round(1.1 * S)),
      FaultWindow(1, "kill", 3 * S, round(3.1 * S))]),
    # an overlapping follow-up (anchor injected): the first heals after the second
    ((_event("fault_fired", 1, 0, "partition"), _event("fault_fired", 2, 1),
      _event("fault_healed", 2.1, 1), _event("fault_healed", 4, 0, "partition")),
     [FaultWindow(0, "partition", 1 * S, 4 * S), FaultWindow(1, "kill", 2 * S, round(2.1 * S))]),
    # a fault never healed (the trial timed out in it): its window runs to the trial's end
    ((_event("fault_fired", 1, 0),), [FaultWindow(0, "kill", 1 * S, 9 * S)]),
])  # fmt: skip
def test_each_fault_has_its_window(events: tuple[HarnessEvent, ...],
                                   windows: list[FaultWindow]) -> None:  # fmt: skip
    assert fault_windows(_history(*events)) == windows


def test_the_timeline_of_two_faults_draws_and_names_both(tmp_path: Path) -> None:
    history = _history(_event("fault_fired", 1, 0), _event("fault_healed", 1.1, 0),
                       _event("fault_fired", 3, 1), _event("fault_healed", 3.1, 1))
    record = {"trial_id": "t", "time_to_recover_s": 2.0}
    chart = timeline_chart(record, to_json(history), tmp_path, "two.png")
    assert (tmp_path / "two.png").stat().st_size > 0
    assert "The 2 shaded bands are the fault windows" in chart.caption
    assert "2.00 s after the first fault" in chart.caption
    one = timeline_chart(record, to_json(_history(*history.events[:2])), tmp_path,
                         "one.png")
    assert "The shaded band is the fault window; " in one.caption
    assert "2.00 s after the fault)" in one.caption
