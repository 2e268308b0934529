"""``pause``: SIGSTOP the worker's process group until another worker took the workflow over, then
SIGCONT — the zombie-worker case.

While the worker is stopped, another worker takes the workflow over (a standby once the lease
expires); when it resumes, its late step, effect and outcome writes must be rejected (fencing
epoch). Which execution then reaches the store or the effect sink first is a race, so the fault
pins it with the provider's holds (``order``):

- ``zombie_first``: the replacement's first LLM call is held at the provider. The zombie is
  resumed once that call arrived, or once the replacement resumed the zombie's own call
  (a resumable SUT: it retrieves the background response the zombie waits on, so which of the
  two records that step first is not pinned), since the superseding claim is then a fact; its
  own held call is answered, and the replacement stays held until the zombie made a write or a
  new LLM call after its resume (or ``head_start_s`` passed without either: a fenced zombie
  does neither).
  Every late write of the zombie therefore lands after the superseding claim and before anything
  the replacement writes. Needs a ``received`` trigger (the zombie is caught mid-call).
- ``replacement_first``: the zombie is resumed only once the workflow is terminal: the
  replacement wrote its outcome and effects first, the zombie's writes all come after.
- ``outcome_zombie_first``: the zombie is stopped *past its last step record*, before its
  outcome write, so its replacement only replays and the zombie is further along than it (needs
  a ``received`` trigger on the last LLM call, ``last_step``, ``lease_s`` and standbys with links
  of their own, ``Recovery(own_links=True)``). Each move waits for an event, never for a race:
  1. a ``latency`` toxic (``ack_delay_ms``) on the zombie's Postgres link delays every answer
     it gets; the held call goes on, and once the store shows the record of ``last_step``
     committed -- its acknowledgement still in the toxic, so the outcome write not yet sent --
     the zombie is stopped (seen too late to be sure: :class:`PauseNotLanded`, a skip);
  2. the standbys' queries are held (a long ``latency`` toxic on their link's upstream) until
     the zombie's lease has surely expired (``lease_s`` after the stop, plus a second), then
     their answers are held instead (downstream) and their queries let through: the standby's
     claim commits, but it does not hear of it;
  3. once the store shows the claim (a newer epoch), the zombie is resumed: its outcome write
     reaches the store after the superseding claim and before anything of the replacement's;
  4. the standbys' answers are let through once the workflow is terminal (the zombie's outcome
     was accepted) or ``head_start_s`` passed (it was rejected: nothing to see).
  A SUT that announces each new epoch to the effect sink inside its claim transaction
  (``FaultTarget.announces_epochs``) needs its answers to claim at all, so steps 2-4 differ: its
  announcement is held at the sink (the claim has locked the row, uncommitted); the zombie is
  resumed and its outcome write waits for that row lock (seen in ``pg_stat_activity``, or
  ``head_start_s`` passed); then the announcement is answered and the claim commits first.
- ``effect_zombie_first``: as ``outcome_zombie_first``, the zombie stopped past the record of
  ``last_step`` -- here the step before an effect, so its next act is the effect's delivery to
  the sink, not a store write. Steps 2-4 pin the one order in which only the sink's epoch fence
  can stop that delivery:
  2. the sink holds this workflow's deliveries from any newer epoch, unjudged (``EffectGate``);
     the ack delay is removed and the standby claims once the lease expired (on any link: it is
     never held) -- and replays, and sends its own effect, which waits;
  3. once the store shows the claim, the zombie is resumed: it hears of its record and delivers
     its effect, after the superseding claim and before the replacement's. A runtime that
     announced the new epoch before its claim committed has it refused (``fenced``); one that
     did not has it applied, by a superseded execution (property 7);
  4. the replacement's delivery is let through once the zombie's arrived or ``head_start_s``
     passed.
- ``until_claimed``: stopped until the workflow's record shows a claim past the epoch it had
  at the stop (a new owner started it: ``FaultTarget.workflow_records``), then resumed at once,
  with whatever it read before the stop: a recovery frozen between its read of the pending
  workflows and its write acts, once resumed, on what the new owner is running. When nobody
  claims within ``takeover_timeout_s`` (a claimer frozen inside its claim transaction holds the
  row), it is resumed then; the heal's ``claimed`` says which.
- ``timed``: stopped for ``duration_s``, whatever happened meanwhile (the order is not pinned:
  for benchmarks, not for verdicts).
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass

from harness.faults._base import FaultNotLanded, FaultTarget
from harness.history import StepRecord
from harness.net import NotFoundError

ORDERS = ("zombie_first", "replacement_first", "outcome_zombie_first", "effect_zombie_first",
          "until_claimed", "timed")
PAST_LAST_RECORD = ("outcome_zombie_first", "effect_zombie_first")
POLL_S = 0.02
ACK_DELAY = "pause_ack_delay"
STANDBY_HOLD = {"upstream": "pause_standby_queries", "downstream": "pause_standby_answers"}
HOLD_MS = 600_000
"""A latency toxic this long is a hold: removing it lets everything it kept through at once."""


class PauseNotLanded(FaultNotLanded):
    """``outcome_zombie_first``: the last step record was seen too late to be sure that the
    zombie had not yet heard of it (a machine too loaded for ``ack_delay_ms``): skipped with the
    reason, never judged as if the zombie had been stopped before its outcome write."""


@dataclass(frozen=True)
class PauseFault:
    duration_s: float = 4.0
    """``timed`` only: how long the worker stays stopped."""
    order: str = "zombie_first"
    takeover_timeout_s: float = 30.0
    """How long the replacement may take to claim (the lease plus a poll, on a loaded machine)."""
    head_start_s: float = 3.0
    """``zombie_first``: the longest the replacement stays held while the zombie does nothing."""
    last_step: int | None = None
    """``outcome_zombie_first``: the logical step of the workflow's last step record;
    ``effect_zombie_first``: of the record before its effect."""
    lease_s: float | None = None
    """``outcome_zombie_first``, ``effect_zombie_first``: the trial's lease (the standby may
    claim once it expired)."""
    ack_delay_ms: int = 2000
    """``outcome_zombie_first``, ``effect_zombie_first``: how late the zombie hears of its writes
    while it is caught. Its heartbeats are that late too: the trial's lease must outlast it plus
    a heartbeat interval."""
    name: str = "pause"
    kills_worker: bool = False

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"unknown pause order {self.order!r}; valid: {', '.join(ORDERS)}")
        if self.order in PAST_LAST_RECORD and (self.last_step is None or not self.lease_s):
            raise ValueError(f"the {self.order} order needs last_step= (the logical step of "
                             "the record it stops past) and lease_s= (the trial's lease)")

    def inject(self, target: FaultTarget) -> None:
        """Returns with the zombie resumed, in the order this fault pins."""
        if self.order == "timed":
            target.worker.signal(signal.SIGSTOP)
            time.sleep(self.duration_s)
        elif self.order == "outcome_zombie_first":
            self._outcome_zombie_first(target)
        elif self.order == "effect_zombie_first":
            self._effect_zombie_first(target)
        elif self.order == "until_claimed":
            self._until_claimed(target)
        elif self.order == "replacement_first":
            target.worker.signal(signal.SIGSTOP)
            if not target.wait_outcome(self.takeover_timeout_s + 60.0):
                raise RuntimeError(
                    f"pause: no replacement completed {target.workflow_id} while worker "
                    f"{target.worker.name} was stopped"
                )
        else:
            self._zombie_first(target)
        target.worker.signal(signal.SIGCONT)
        target.release()

    def _until_claimed(self, target: FaultTarget) -> None:
        def epoch() -> int:
            records = [r for r in target.workflow_records()
                       if r.workflow_id == target.workflow_id]  # fmt: skip
            return records[0].epoch if records else 0

        target.worker.signal(signal.SIGSTOP)
        stopped_at = epoch()
        deadline = time.monotonic() + self.takeover_timeout_s
        claimed = epoch() > stopped_at
        while not claimed and time.monotonic() < deadline:
            time.sleep(POLL_S)
            claimed = epoch() > stopped_at
        # Not claimed in time: resumed anyway, and the heal says so (a scenario judges it).
        target.healed.update({"stopped_at_epoch": stopped_at, "claimed": claimed})

    def _zombie_first(self, target: FaultTarget) -> None:
        provider = target.env.provider_client()
        wid = target.workflow_id
        calls = provider.ledger(wid)
        zombie_call, zombie = len(calls), (calls[-1].attempt if calls else None)
        held = provider.add_rule("hold", workflow_id=wid, call=zombie_call + 1)
        try:
            target.worker.signal(signal.SIGSTOP)
            claimed = self._await_replacement(target, zombie_call)
            if not _older(zombie, claimed):
                raise RuntimeError(
                    f"pause: call {zombie_call + 1} of {wid} came from attempt {claimed}, "
                    f"not from a replacement of attempt {zombie}; the zombie_first order needs a "
                    "'received' trigger (the zombie stopped in the middle of its call)"
                )
            resumed_ns = time.time_ns()
            target.worker.signal(signal.SIGCONT)
            target.release()
            self._await_zombie(target, zombie=claimed, after_ns=resumed_ns)
        finally:
            provider.release(held)

    def _await_replacement(self, target: FaultTarget, zombie_call: int) -> int | None:
        """The replacement's attempt once it acted: its first LLM call arrived (and is held), or
        -- a SUT that resumes the zombie's call (a background response) instead of making it
        again -- it retrieved the zombie's call (the ledger's ``resumed_attempt``). In that case
        the two wait on the same held answer and which one tries to record the step first is
        not pinned; the zombie's record is fenced either way."""
        provider = target.env.provider_client()
        wid = target.workflow_id
        deadline = time.monotonic() + self.takeover_timeout_s
        while time.monotonic() < deadline:
            try:
                return provider.wait_for(wid, zombie_call + 1, "received", 0.2).attempt
            except TimeoutError:
                pass
            for entry in provider.ledger_json(wid):
                if entry.get("call") == zombie_call and entry.get("resumed_attempt") is not None:
                    return int(entry["resumed_attempt"])
        raise RuntimeError(
            f"pause: no worker took {wid} over within {self.takeover_timeout_s:.0f}s while "
            f"{target.worker.name} was stopped (is there a standby?)")

    def _await_zombie(self, target: FaultTarget, zombie: int | None, after_ns: int) -> None:
        """Until the zombie (any epoch below the replacement's) wrote a step record or made a
        new LLM call after ``after_ns``, or ``head_start_s`` passed."""
        provider = target.env.provider_client()
        deadline = time.monotonic() + self.head_start_s
        while time.monotonic() < deadline:
            calls = [e for e in provider.ledger(target.workflow_id)
                     if e.received_ns > after_ns and _older(e.attempt, zombie)]
            records = [r for r in target.step_records()
                       if r.recorded_ns > after_ns and _older(r.epoch, zombie)]
            if calls or records:
                return
            time.sleep(POLL_S)

    def _stop_past_last_record(self, target: FaultTarget) -> StepRecord:
        """Step 1 of the module doc: the zombie stopped once the record of ``last_step``
        committed and before it heard so; returns that record, the ack delay still on."""
        toxiproxy = target.env.toxiproxy()
        zombie_link = target.proxy("postgres")
        toxiproxy.add_toxic(zombie_link, "latency", stream="downstream", name=ACK_DELAY,
                            latency=self.ack_delay_ms)  # fmt: skip
        calls = target.env.provider_client().ledger(target.workflow_id)
        zombie = calls[-1].attempt if calls else None
        armed_ns = time.time_ns()
        target.release()
        last = self._await_last_record(target, armed_ns, zombie)
        target.worker.signal(signal.SIGSTOP)
        stopped = time.time()
        late_s = stopped - last.recorded_ns / 1e9
        if late_s > 0.6 * self.ack_delay_ms / 1000:
            raise PauseNotLanded(
                f"pause: the record of step {self.last_step} was seen {late_s:.2f}s after it "
                f"committed, too close to the {self.ack_delay_ms} ms acknowledgement delay to be "
                "sure the zombie had not yet heard of it (a loaded machine: raise ack_delay_ms)")
        if any(w.workflow_id == target.workflow_id and w.epoch != last.epoch
               for w in target.workflow_records()):
            raise RuntimeError(
                f"pause: {target.workflow_id} was claimed again before its owner was stopped: "
                f"its heartbeats, {self.ack_delay_ms} ms late each, let the lease lapse (give "
                "the trial a lease longer than ack_delay_ms plus the heartbeat interval)")
        return last

    def _outcome_zombie_first(self, target: FaultTarget) -> None:
        """See the module doc; returns with the zombie resumed and every hold removed."""
        toxiproxy = target.env.toxiproxy()
        standby_link = target.peer_proxy("postgres")
        last = self._stop_past_last_record(target)
        stopped = time.time()
        self._hold(target, standby_link, "upstream")
        toxiproxy.remove_toxic(target.proxy("postgres"), ACK_DELAY)  # into the zombie's socket
        assert self.lease_s is not None
        time.sleep(max(0.0, stopped + self.lease_s + 1.0 - time.time()))
        if target.announces_epochs:
            self._zombie_inside_the_claim(target, standby_link, last.epoch)
            return
        self._hold(target, standby_link, "downstream")
        toxiproxy.remove_toxic(standby_link, STANDBY_HOLD["upstream"])
        self._await_claim(target, last.epoch)
        target.worker.signal(signal.SIGCONT)
        deadline = time.monotonic() + self.head_start_s
        while time.monotonic() < deadline and not self._terminal(target):
            time.sleep(POLL_S)
        toxiproxy.remove_toxic(standby_link, STANDBY_HOLD["downstream"])

    def _effect_zombie_first(self, target: FaultTarget) -> None:
        """See the module doc; returns with the zombie resumed and every hold removed."""
        provider = target.env.provider_client()
        last = self._stop_past_last_record(target)
        provider.hold_effects(target.workflow_id, above=last.epoch)
        try:
            target.env.toxiproxy().remove_toxic(target.proxy("postgres"), ACK_DELAY)
            self._await_claim(target, last.epoch)
            resumed_ns = time.time_ns()
            target.worker.signal(signal.SIGCONT)
            deadline = time.monotonic() + self.head_start_s
            while time.monotonic() < deadline and not any(
                    e.received_ns > resumed_ns and _older(e.attempt, last.epoch + 1)
                    for e in provider.effects(target.workflow_id)):
                time.sleep(POLL_S)
        finally:
            provider.release_effects(target.workflow_id)

    def _zombie_inside_the_claim(self, target: FaultTarget, standby_link: str,
                                 zombie: int) -> None:
        """Step 2-4 for a SUT that announces its epochs inside the claim transaction: the
        standby's claim needs its answers, so its announcement is held at the sink instead --
        the claim has locked the row and bumped the epoch, uncommitted. The zombie, resumed,
        sends its outcome write, which waits for that lock; then the announcement is answered,
        the claim commits, and the zombie's write is judged against it."""
        provider = target.env.provider_client()
        provider.hold_fences(target.workflow_id)
        try:
            target.env.toxiproxy().remove_toxic(standby_link, STANDBY_HOLD["upstream"])
            try:
                epoch = provider.wait_fence(target.workflow_id, self.takeover_timeout_s)
            except TimeoutError as exc:
                raise RuntimeError(
                    f"pause: no standby announced a claim of {target.workflow_id} within "
                    f"{self.takeover_timeout_s:.0f}s of its lease expiring while "
                    f"{target.worker.name} was stopped (is there a standby?)") from exc
            if epoch <= zombie:
                raise RuntimeError(f"pause: the announced epoch {epoch} is not newer than the "
                                   f"zombie's {zombie}")
            waiting = target.lock_waits()
            target.worker.signal(signal.SIGCONT)
            deadline = time.monotonic() + self.head_start_s
            while time.monotonic() < deadline and target.lock_waits() <= waiting:
                time.sleep(POLL_S)
        finally:
            provider.release_fences(target.workflow_id)
        self._await_claim(target, zombie)

    @staticmethod
    def _hold(target: FaultTarget, proxy: str, stream: str) -> None:
        target.env.toxiproxy().add_toxic(proxy, "latency", stream=stream,  # type: ignore[arg-type]
                                         name=STANDBY_HOLD[stream], latency=HOLD_MS)  # fmt: skip

    def _await_last_record(self, target: FaultTarget, after_ns: int,
                           zombie: int | None) -> StepRecord:
        deadline = time.monotonic() + self.takeover_timeout_s
        while time.monotonic() < deadline:
            for record in target.step_records():
                if (record.workflow_id == target.workflow_id and record.step == self.last_step
                        and record.recorded_ns > after_ns
                        and zombie in (None, record.epoch)):
                    return record
            time.sleep(POLL_S / 2)
        raise RuntimeError(
            f"pause: no record of step {self.last_step} of {target.workflow_id} within "
            f"{self.takeover_timeout_s:.0f}s (outcome_zombie_first needs a checkpointing SUT and "
            "the logical step of the workflow's last step record)")

    def _await_claim(self, target: FaultTarget, zombie: int) -> None:
        deadline = time.monotonic() + self.takeover_timeout_s
        while time.monotonic() < deadline:
            if any(w.workflow_id == target.workflow_id and w.epoch > zombie
                   for w in target.workflow_records()):
                return
            time.sleep(POLL_S)
        raise RuntimeError(
            f"pause: no standby claimed {target.workflow_id} within {self.takeover_timeout_s:.0f}s"
            f" of its lease expiring while {target.worker.name} was stopped (is there a standby?)")

    @staticmethod
    def _terminal(target: FaultTarget) -> bool:
        return any(w.workflow_id == target.workflow_id and w.status != "PENDING"
                   for w in target.workflow_records())

    def heal(self, target: FaultTarget) -> None:
        """Resume the zombie (a call it had in flight is answered now, so it tries to record)
        and remove every hold this fault put on a link."""
        target.worker.signal(signal.SIGCONT)
        target.release()
        if self.order not in PAST_LAST_RECORD:
            return
        if self.order == "effect_zombie_first":
            target.env.provider_client().release_effects(target.workflow_id)
        toxiproxy = target.env.toxiproxy()
        holds = [(target.proxy("postgres"), ACK_DELAY)]
        if target.peer_links is not None and self.order == "outcome_zombie_first":
            holds += [(target.peer_proxy("postgres"), name) for name in STANDBY_HOLD.values()]
        for proxy, name in holds:
            with contextlib.suppress(NotFoundError):
                toxiproxy.remove_toxic(proxy, name)


def _older(epoch: int | None, replacement: int | None) -> bool:
    return epoch is not None and replacement is not None and epoch < replacement
