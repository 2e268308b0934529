"""A soak's plan: its options, the workflows' arrival times and the nemesis's fault schedule.

Contract: :func:`plan` is a pure function of :class:`SoakOptions` — the same options (the same
seed) give the same :class:`SoakPlan`, byte for byte in :meth:`SoakPlan.to_json`. Nothing here
touches a process, a clock or the network.

Faults may overlap, within these limits (so every planned fault can run as planned):
- at most ``max_concurrent`` faults are active at once;
- a fault that acts on a worker (kill, evict, pause, oom) takes a worker slot no other active
  fault holds, and at least one worker is always left alone (``max_concurrent`` < ``workers``);
- kinds that act on something shared (db_crash, partition, degrade, provider_errors) are active
  at most once at a time.
A fault that would break a limit is moved later, to when the limit holds again.

Each fault that can take its worker down (kill, evict, oom) also draws how the worker is
replaced, from ``policies`` (what the SUT supports): ``restart`` (the same executor id again, a
pod restart), ``standby`` (the live peers take its work over natively; a fresh executor id fills
the slot), ``supervised`` (the harness, as the SUT's orchestrator, hands the dead executor's
workflows to a live worker through the SUT's own recovery entry point; a fresh executor id fills
the slot) or, for an eviction, ``rolling`` (the replacement, same executor id, is up before the
old process is told to go, and both run while it drains). Recovery is drawn from its own stream
of the seed, so the fault schedule of a seed does not depend on the policies allowed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FAULT_KINDS: tuple[str, ...] = (
    "kill", "evict", "pause", "db_crash", "partition", "degrade", "provider_errors", "oom",
)
WORKER_KINDS = frozenset({"kill", "evict", "pause", "oom"})
"""Kinds that act on one worker (a slot); the others act on something the workers share."""
RECOVERY_CHOICES: tuple[str, ...] = ("restart", "standby", "supervised", "rolling")
DUPLICATE_HANDOVER_P = 0.5
"""The share of ``supervised`` recoveries whose dead executor two live ones are asked to recover
at once (``PlannedFault.handovers``): a second supervisor, or a retry beside another's."""
"""How a worker a fault took down is replaced (see the module's docstring)."""
RECOVERY_OF_KIND: dict[str, tuple[str, ...]] = {
    "kill": ("restart", "standby", "supervised"),
    "oom": ("restart", "standby", "supervised"),
    "evict": RECOVERY_CHOICES,
}
"""The policies each worker-killing kind may draw: a rolling restart is a deploy (an eviction
with its grace period), not the answer to a crash nobody planned."""


@dataclass(frozen=True)
class Compound:
    """Two faults in a known pattern: ``partner`` fires ``offset_s`` after a ``leader`` fault."""

    leader: str
    partner: str
    offset_s: float
    same_slot: bool
    """The partner acts on the leader's worker slot (whatever worker holds it then)."""
    during_leader: bool
    """The partner lands while the leader is still active (so it does not wait for its heal)."""
    why: str
    anchor: Literal["time", "recovery_call"] = "time"
    """``time``: the partner fires ``offset_s`` after its leader. ``recovery_call``: it fires
    the moment a workflow the leader's victim was running makes its first LLM request after
    the leader fired (the recovery re-making its step), on the worker that made it for a worker
    fault; ``offset_s`` after the leader only when no such request comes in time."""


COMPOUNDS: dict[str, Compound] = {
    "failover": Compound(
        "kill", "db_crash", 0.3, same_slot=False, during_leader=False, anchor="recovery_call",
        why="a failover: a worker dies and Postgres restarts while its work is being recovered"),
    "frozen_then_killed": Compound(
        "pause", "kill", 1.0, same_slot=True, during_leader=True,
        why="a frozen (paused) worker is killed before it ever resumes"),
    "killed_while_recovering": Compound(
        "kill", "kill", 1.5, same_slot=True, during_leader=False, anchor="recovery_call",
        why="the worker that replaced a dead one is killed in turn, while it recovers"),
    "both_links_down": Compound(
        "partition", "partition", 0.2, same_slot=False, during_leader=True,
        why="two faults of one kind at once: the store link and the provider link both down"),
}
"""The compound patterns a soak draws (``SoakOptions.compounds`` of them)."""


class SoakUsageError(ValueError):
    """Contradictory or impossible soak options; the message says what to change."""


@dataclass(frozen=True)
class SoakOptions:
    sut: str = "reference"
    workflows: int = 300
    faults: int = 30
    seed: int = 7
    workers: int = 3
    kinds: tuple[str, ...] = FAULT_KINDS
    max_concurrent: int = 2
    arrival_rate: float = 2.0
    """Workflows submitted per second (Poisson arrivals)."""
    quiesce_bound_s: float = 180.0
    """After the last heal, every workflow must be terminal within this bound."""
    workload: str = "research_agent"
    compounds: int = 0
    """Compound patterns (:data:`COMPOUNDS`) added to the ``faults`` drawn: each is one more
    fault, pinned relative to one of them."""
    policies: tuple[str, ...] = ("restart",)
    """Recovery policies the faults draw from (``RECOVERY_CHOICES``; the CLI's default: every
    one the SUT supports)."""
    worker_concurrency: int = 0
    """The queue's limit per worker (``WorkerOptions.worker_concurrency``); 0: none."""
    queue_concurrency: int = 0
    """The queue's limit across workers (``WorkerOptions.queue_concurrency``); 0: none."""

    def validate(self) -> None:
        """Raise :class:`SoakUsageError` for options that contradict each other."""
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise SoakUsageError(
                f"unknown fault kind(s) {unknown}; valid: {', '.join(FAULT_KINDS)}")
        if self.workflows < 1 or self.faults < 0 or self.workers < 1 or self.compounds < 0:
            raise SoakUsageError("need --workflows >= 1, --faults >= 0, --compounds >= 0 and "
                                 "--workers >= 1")
        if self.faults and not self.kinds:
            raise SoakUsageError("--faults > 0 needs at least one fault kind")
        if self.arrival_rate <= 0 or self.quiesce_bound_s <= 0:
            raise SoakUsageError("need --arrival-rate > 0 and --quiesce-bound > 0")
        bad = sorted(set(self.policies) - set(RECOVERY_CHOICES))
        if bad or not self.policies:
            raise SoakUsageError(f"recovery policies {bad or '(none)'}: choose from "
                                 f"{', '.join(RECOVERY_CHOICES)}")
        if self.worker_concurrency < 0 or self.queue_concurrency < 0:
            raise SoakUsageError("--worker-concurrency and --queue-concurrency must be >= 0 "
                                 "(0: no limit)")
        if self.max_concurrent < 1:
            raise SoakUsageError("need --max-concurrent >= 1")
        if WORKER_KINDS & set(self.kinds) and self.max_concurrent >= self.workers:
            raise SoakUsageError(
                f"--max-concurrent {self.max_concurrent} with {self.workers} worker(s): worker "
                "faults could take every worker down at once; use --max-concurrent <= "
                f"{self.workers - 1} or more --workers")


@dataclass(frozen=True)
class PlannedFault:
    """One fault of the schedule: ``at_s`` after the soak starts, active for ``duration_s``
    (planned; a kill is instant, its planned duration is the time its slot stays reserved)."""

    fault_id: int
    kind: str
    at_s: float
    duration_s: float
    slot: int | None = None
    """The worker slot (executor ``soak-w<slot>``) of a worker fault."""
    params: dict[str, Any] = field(default_factory=dict)
    recovery: str | None = None
    """How its worker is replaced if the fault takes it down (None: a fault that does not)."""
    handovers: int = 1
    """``supervised`` only: how many live executors the supervisor asks at once to recover the
    dead one (2: the same dead executor recovered twice, concurrently)."""
    compound: str = ""
    """The :data:`COMPOUNDS` pattern this fault is the partner of, "" for a fault on its own."""
    joins: int | None = None
    """A partner's leader (its ``fault_id``)."""

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration_s


@dataclass(frozen=True)
class SoakPlan:
    options: SoakOptions
    arrivals_s: tuple[float, ...]
    faults: tuple[PlannedFault, ...]

    def to_json(self) -> dict[str, Any]:
        return {"options": asdict(self.options), "arrivals_s": list(self.arrivals_s),
                "faults": [asdict(f) for f in self.faults]}

    def describe(self) -> str:
        """The schedule, one line per fault (printed and stored, so a run can be replayed)."""
        lines = [f"seed {self.options.seed}: {len(self.arrivals_s)} workflows over "
                 f"{self.arrivals_s[-1]:.1f}s, {len(self.faults)} faults"]
        for f in self.faults:
            where = f" slot {f.slot}" if f.slot is not None else ""
            params = " ".join(f"{k}={v}" for k, v in sorted(f.params.items()))
            if f.recovery is not None:
                params = f"{params} recovery={f.recovery}".strip()
            if f.handovers > 1:
                params = f"{params} handovers={f.handovers}"
            if f.compound:
                params = f"{params} [{f.compound} after #{f.joins}]".strip()
            lines.append(f"  #{f.fault_id:<3} {f.at_s:7.2f}s +{f.duration_s:4.1f}s {f.kind}"
                         f"{where} {params}".rstrip())
        return "\n".join(lines)


def _params(kind: str, rng: random.Random) -> tuple[float, dict[str, Any]]:
    """(planned duration, the fault's parameters) for one fault of ``kind``."""
    if kind == "kill":
        return 1.0, {}
    if kind == "evict":
        return 2.0, {"grace_s": 1.0}
    if kind == "pause":
        duration = round(rng.uniform(3.0, 5.0), 2)
        return duration, {"duration_s": duration}
    if kind == "db_crash":
        down = round(rng.uniform(0.5, 2.5), 2)
        return down + 1.0, {"down_s": down}
    if kind == "partition":
        duration = round(rng.uniform(0.5, 2.5), 2)
        return duration, {"link": rng.choice(["postgres", "provider"]), "duration_s": duration}
    if kind == "degrade":
        duration = round(rng.uniform(1.0, 4.0), 2)
        return duration, {"link": rng.choice(["postgres", "provider"]), "duration_s": duration,
                          "latency_ms": rng.choice([50, 100, 250, 500])}
    if kind == "provider_errors":
        return 1.0, {"status": rng.choice([429, 500, 503]), "count": rng.randint(1, 4)}
    return 5.0, {}  # oom


def _fits(kind: str, slot: int | None, at: float, placed: list[PlannedFault],
          options: SoakOptions) -> bool:
    active = [f for f in placed if f.at_s <= at < f.end_s]
    if len(active) >= options.max_concurrent:
        return False
    if kind in WORKER_KINDS:
        return all(f.slot != slot for f in active)
    return all(f.kind != kind for f in active)


def _schedule(options: SoakOptions, rng: random.Random, window_s: float) -> list[PlannedFault]:
    starts = sorted(rng.uniform(0.5, max(1.0, window_s)) for _ in range(options.faults))
    placed: list[PlannedFault] = []
    for i, at in enumerate(starts):
        kind = rng.choice(sorted(options.kinds))
        slot = rng.randrange(options.workers) if kind in WORKER_KINDS else None
        duration, params = _params(kind, rng)
        at = max(at, placed[-1].at_s if placed else 0.0)  # the schedule stays in time order
        while not _fits(kind, slot, at, placed, options):
            at = min(f.end_s for f in placed if f.at_s <= at < f.end_s) + 0.01
        placed.append(PlannedFault(i, kind, round(at, 3), duration, slot, params))
    return placed


def plan(options: SoakOptions) -> SoakPlan:
    """The soak's arrivals and fault schedule; a pure function of ``options``."""
    options.validate()
    rng = random.Random(options.seed)
    t, arrivals = 0.0, []
    for _ in range(options.workflows):
        arrivals.append(round(t, 3))
        t += rng.expovariate(options.arrival_rate)
    faults = _schedule(options, random.Random(rng.random()), arrivals[-1])
    faults = _add_compounds(options, faults)
    return SoakPlan(options, tuple(arrivals), tuple(_draw_recovery(options, faults)))


def _partner_fits(leader: PlannedFault, partner: PlannedFault,
                  placed: list[PlannedFault]) -> bool:
    """No other fault acts on what the partner acts on while it is active (its leader aside)."""
    for f in placed:
        if f is leader or not (f.at_s < partner.end_s and partner.at_s < f.end_s):
            continue
        if partner.kind in WORKER_KINDS and f.slot == partner.slot:
            return False
        if partner.kind not in WORKER_KINDS and f.kind == partner.kind and (
                f.params.get("link") == partner.params.get("link")):
            return False
    return True


def _add_compounds(options: SoakOptions, faults: list[PlannedFault]) -> list[PlannedFault]:
    """``options.compounds`` partners, each pinned to a leader drawn from ``faults`` (a stream of
    the seed's own); then every fault renumbered in time order. A pattern whose kinds are not
    both allowed, or whose partner would collide with another fault, is not drawn."""
    if not options.compounds:
        return faults
    rng = random.Random(f"compound-{options.seed}")
    patterns = [(name, c) for name, c in sorted(COMPOUNDS.items())
                if c.leader in options.kinds and c.partner in options.kinds]
    candidates = [(name, c, f) for f in faults for name, c in patterns if f.kind == c.leader]
    rng.shuffle(candidates)
    partners: list[tuple[PlannedFault, PlannedFault]] = []
    used: set[int] = set()
    for name, pattern, leader in candidates:
        if len(partners) == options.compounds:
            break
        if leader.fault_id in used:
            continue
        duration, params = _params(pattern.partner, rng)
        if pattern.partner == "partition":
            params["link"] = "provider" if leader.params.get("link") == "postgres" else "postgres"
        partner = PlannedFault(-1, pattern.partner, round(leader.at_s + pattern.offset_s, 3),
                               duration, leader.slot if pattern.same_slot else None, params,
                               compound=name, joins=leader.fault_id)
        if _partner_fits(leader, partner, faults + [p for _, p in partners]):
            used.add(leader.fault_id)
            partners.append((leader, partner))
    ordered = sorted(faults + [p for _, p in partners],
                     key=lambda f: (f.at_s, f.joins is not None, f.fault_id))
    new_id = {id(f): i for i, f in enumerate(ordered)}
    leader_of = {id(p): new_id[id(leader)] for leader, p in partners}
    return [replace(f, fault_id=new_id[id(f)], joins=leader_of.get(id(f))) for f in ordered]


def for_sut(base: SoakPlan, options: SoakOptions) -> SoakPlan:
    """``base``'s arrivals and fault schedule for another SUT's ``options`` (the same seed): the
    recovery of each fault drawn again from the policies that SUT supports."""
    options.validate()
    faults = [replace(f, recovery=None) for f in base.faults]
    return SoakPlan(options, base.arrivals_s, tuple(_draw_recovery(options, faults)))


def _draw_recovery(options: SoakOptions, faults: list[PlannedFault]) -> list[PlannedFault]:
    """Each worker-killing fault's recovery, from a stream of its own (see the docstring)."""
    rng = random.Random(f"recovery-{options.seed}")
    twice = random.Random(f"handovers-{options.seed}")  # its own stream: the policies stay put
    drawn = []
    for f in faults:
        allowed = [p for p in RECOVERY_OF_KIND.get(f.kind, ()) if p in options.policies]
        if allowed:
            f = replace(f, recovery=rng.choice(sorted(allowed)))
        elif f.kind in RECOVERY_OF_KIND:
            f = replace(f, recovery="restart")
        duplicate = twice.random() < DUPLICATE_HANDOVER_P
        if f.recovery == "supervised" and duplicate and options.workers >= 3:
            f = replace(f, handovers=2)
        drawn.append(f)
    return drawn
