"""``ack_loss``: a write reaches Postgres and commits, but its writer never hears so.

Landing a network fault on one particular write — and not on a heartbeat or a poll beside it —
is a race unless the harness sees the write happen first. So the fault, armed while the
workflow's LLM call is held (a ``received`` trigger):

1. puts a ``latency`` toxic of ``latency_ms`` on the link's downstream (Postgres -> worker): every
   query still reaches the server at once, every answer is late;
2. lets the held call go on; the worker gets its answer and makes its next ``write``:
   ``step`` (the step record that follows), ``outcome`` (the workflow's terminal status) or
   ``child`` (the first child workflow row of a fan-out);
3. watches the SUT's store directly until that write is there — committed, while its
   acknowledgement still sits in the latency toxic — and refuses to go on (an error, never a
   silent miss) when it saw it too late to be sure;
4. acts, per ``mode``:
   - ``reset``: a ``reset_peer`` toxic behind the latency (added inert with the latency, at
     toxicity 0, and switched on now: adding it now would interrupt the latency toxic, which
     in real Toxiproxy lets the held acknowledgement through at once): the acknowledgement
     arrives as a TCP reset. The writer must retry, and the retry must find its own write
     (record once);
   - ``blackhole``: a ``timeout`` toxic behind the latency swallows the acknowledgement; once it
     is swallowed the toxic's toxicity drops to 0, so the link carries traffic again but the
     connection that sent the write waits for an answer that will never come. Only the writer's
     own query timeout gets it out: the fault then waits up to ``hang_s`` for the outcome and the
     scenario checks that the workflow completed *before* the heal (removing the toxic closes the
     connection, which would rescue a runtime that never cuts a query);
   - ``kill``: SIGKILL the writer's process group: it dies between its write and hearing of it
     (e.g. a parent between creating a child workflow and recording that it did).
5. heal removes the toxics.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from harness.faults._base import FaultTarget, FaultUnavailable, WorkerSetup
from harness.net import NotFoundError, ToxiproxyClient

MODES = ("reset", "blackhole", "kill")
WRITES = ("step", "outcome", "child")
POLL_S = 0.01
LATENCY = "ack_loss_latency"
SECOND = "ack_loss_cut"
DB_TIMEOUT_ENV = "DURABENCH_DB_TIMEOUT_S"
"""Per-query timeout a SUT's workers should use (the reference runtime's ``op_timeout_s``)."""


class AckLossNotLanded(FaultUnavailable):
    """The write was seen too late to be sure its acknowledgement was still in flight: the trial
    is skipped with the reason (never judged as if the acknowledgement had been lost). It happens
    on a machine too loaded for ``latency_ms``, and on a SUT whose write is several round trips
    (each delayed by the latency toxic) or whose records carry the writer's clock rather than the
    commit's: such a SUT's lost acknowledgement cannot be aimed at from outside this way."""


@dataclass(frozen=True)
class AckLossFault:
    mode: str = "reset"
    write: str = "step"
    link: str = "postgres"
    latency_ms: int = 1500
    hang_s: float = 20.0
    """``blackhole``: how long the link stays healed around the hung connection, waiting for the
    runtime to cut its query and finish."""
    db_timeout_s: float = 4.0
    """``blackhole``: the per-query timeout the trial's workers are started with."""
    write_timeout_s: float = 90.0
    """How long to wait for the write before failing the trial; generous: with every answer
    delayed by ``latency_ms``, a worker that must open a connection first spends four round trips
    on its handshake (more on a loaded machine)."""
    name: str = "ack_loss"

    def __post_init__(self) -> None:
        if self.mode not in MODES or self.write not in WRITES:
            raise ValueError(f"ack_loss: mode must be one of {MODES} and write one of {WRITES}, "
                             f"got {self.mode!r} and {self.write!r}")  # fmt: skip

    @property
    def kills_worker(self) -> bool:
        return self.mode == "kill"

    def worker_setup(self, trial_dir: Path) -> WorkerSetup:
        # Only a black hole needs the short per-query timeout (the runtime must cut the hung
        # query itself). Elsewhere it would cut a step write that merely queues behind the
        # latency toxic on a loaded machine -- a timeout before the commit, not a lost ack -- and
        # the step would rightly run again.
        if self.mode != "blackhole":
            return WorkerSetup()
        return WorkerSetup(env={DB_TIMEOUT_ENV: str(self.db_timeout_s)})

    def inject(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        toxiproxy.add_toxic(proxy, "latency", stream="downstream", name=LATENCY,
                            latency=self.latency_ms)  # fmt: skip
        if self.mode != "kill":  # behind the latency now, inert until the write is seen
            toxiproxy.add_toxic(proxy, self._second, stream="downstream", name=SECOND,
                                toxicity=0.0, timeout=0)  # fmt: skip
        armed_ns = time.time_ns()
        target.release()
        written_ns = self._wait_write(target, armed_ns)
        seen_after_s = (time.time_ns() - written_ns) / 1e9
        if seen_after_s > 0.6 * self.latency_ms / 1000:
            raise AckLossNotLanded(
                f"ack_loss: the {self.write} write was seen {seen_after_s:.2f}s after it "
                f"committed, too close to the {self.latency_ms} ms latency to be sure its "
                "acknowledgement was still in flight (a loaded machine: raise latency_ms; or a SUT "
                "whose write takes several round trips or is stamped by the writer's clock)"
            )
        if self.mode == "kill":
            target.worker.signal(signal.SIGKILL)
            target.worker.wait(10.0)
            return
        # Switched on, not added: Toxiproxy interrupts the toxic in front of one it adds, and an
        # interrupted latency toxic lets what it holds through at once -- the acknowledgement
        # would escape. An update interrupts only the toxic updated.
        toxiproxy.update_toxic(proxy, SECOND, toxicity=1.0)
        # Until the acknowledgement has left the latency toxic (into the second one).
        time.sleep(max(0.0, written_ns / 1e9 + self.latency_ms / 1000 + 0.5 - time.time()))
        if self.mode == "reset":
            self.heal(target)
            return
        toxiproxy.update_toxic(proxy, SECOND, toxicity=0.0)
        toxiproxy.remove_toxic(proxy, LATENCY)
        target.wait_outcome(self.hang_s)

    @property
    def _second(self) -> str:
        return "reset_peer" if self.mode == "reset" else "timeout"

    def _wait_write(self, target: FaultTarget, after_ns: int) -> int:
        """When the awaited write committed (the store's own clock), once it is there."""
        deadline = time.monotonic() + self.write_timeout_s
        while time.monotonic() < deadline:
            stamp = self._written_ns(target, after_ns)
            if stamp is not None:
                return stamp
            time.sleep(POLL_S)
        # A failure, not a skip: the store answers every query, only late. A SUT that cannot
        # write through such a link (e.g. one that retries its connects with a bound shorter
        # than the handshake's round trips) is stuck, and the scenario says so.
        raise RuntimeError(
            f"ack_loss: no {self.write} write of {target.workflow_id} within "
            f"{self.write_timeout_s:.0f}s through a link whose answers are {self.latency_ms} ms "
            "late (the SUT never reached its store over a slow but working link; or a SUT "
            "without step records, which has no step write: use write='outcome')")

    def _written_ns(self, target: FaultTarget, after_ns: int) -> int | None:
        if self.write == "step":
            stamps = [r.recorded_ns for r in target.step_records()
                      if r.workflow_id == target.workflow_id and r.recorded_ns > after_ns]
        elif self.write == "outcome":
            stamps = [w.updated_ns for w in target.workflow_records()
                      if w.workflow_id == target.workflow_id and w.status != "PENDING"]
        else:
            stamps = [w.created_ns for w in target.workflow_records()
                      if w.parent_id == target.workflow_id]
        return min(stamps) if stamps else None

    def heal(self, target: FaultTarget) -> None:
        toxiproxy, proxy = target.env.toxiproxy(), target.proxy(self.link)
        present = {t.name: t for t in toxiproxy.toxics(proxy)}
        second = present.get(SECOND)
        if LATENCY in present and (second is None or second.toxicity == 0.0):
            # The fault never landed (its write seen too late, or an error): the latency toxic
            # may be flushing into a connection nobody reads, and the real Toxiproxy's removal
            # then waits for it forever, holding the server's lock -- every later API call of
            # the run hung (seen under under-load). With the proxy down its connections are
            # closed first, so nothing is left to flush.
            with toxiproxy.disabled(proxy):
                self._remove(toxiproxy, proxy)
            return
        self._remove(toxiproxy, proxy)

    @staticmethod
    def _remove(toxiproxy: ToxiproxyClient, proxy: str) -> None:
        for name in (SECOND, LATENCY):
            with contextlib.suppress(NotFoundError):
                toxiproxy.remove_toxic(proxy, name)
