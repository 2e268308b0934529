"""``durabench soak``: arguments, capability checks (a fault kind the SUT or the environment
cannot run is a usage error when asked for, a printed skip when it was only a default), the run
per SUT, and the exit status (0 no anomaly, 1 an anomaly, 2 usage error)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from harness.env.cgroups import CgroupUnavailable, memory_cgroup
from harness.env.postgres import ENV_URL, PostgresStartError, postgres_bin_dir
from harness.soak._checks import check_soak
from harness.soak._plan import (
    FAULT_KINDS,
    RECOVERY_CHOICES,
    WORKER_KINDS,
    SoakOptions,
    SoakUsageError,
    for_sut,
    plan,
)
from harness.soak._report import anomaly_text, summary_text, write

DEFAULTS = SoakOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sut", action="append", default=None, metavar="NAME",
                        help="SUT to soak (repeat for several; default: reference)")
    parser.add_argument("--workflows", type=int, default=DEFAULTS.workflows, metavar="W")
    parser.add_argument("--faults", type=int, default=DEFAULTS.faults, metavar="F")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers, metavar="N")
    parser.add_argument("--kinds", default=None, metavar="K,K",
                        help=f"fault kinds (default: every kind this machine can run; "
                             f"known: {','.join(FAULT_KINDS)})")
    parser.add_argument("--max-concurrent", type=int, default=DEFAULTS.max_concurrent,
                        metavar="C", help="faults active at once (< --workers)")
    parser.add_argument("--arrival-rate", type=float, default=DEFAULTS.arrival_rate,
                        metavar="R", help="workflows submitted per second")
    parser.add_argument("--quiesce-bound", type=float, default=DEFAULTS.quiesce_bound_s,
                        metavar="S", help="after the last heal, every workflow terminal within S")
    parser.add_argument("--compounds", type=int, default=None, metavar="K",
                        help="compound patterns added to the faults (failover, a frozen worker "
                             "killed, a replacement killed while it recovers, both links down; "
                             "default: one per 10 faults)")
    parser.add_argument("--policies", default=None, metavar="P,P",
                        help="how a worker a fault took down is replaced, drawn per fault "
                             f"(default: every one the SUT supports; known: "
                             f"{','.join(RECOVERY_CHOICES)})")
    parser.add_argument("--worker-concurrency", type=int, default=0, metavar="N",
                        help="the queue's concurrency limit per worker (0: none; SUTs whose "
                             "queue_limits allow it, see `durabench suts`)")
    parser.add_argument("--queue-concurrency", type=int, default=0, metavar="N",
                        help="the queue's concurrency limit across workers (0: none)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="report directory (default: reports/soak-s<seed>)")
    parser.add_argument("--plan-only", action="store_true",
                        help="print the schedule the seed gives and exit")


def unavailable_kinds(sut_name: str) -> dict[str, str]:
    """Fault kind -> why the soak cannot run it here against ``sut_name``."""
    from harness.sut import get_sut

    reasons: dict[str, str] = {}
    try:
        memory_cgroup("soak-probe", 1 << 30)  # checks only; creates nothing
    except CgroupUnavailable as exc:
        reasons["oom"] = f"no memory cgroup for the workers: {exc}"
    if os.environ.get(ENV_URL):
        reasons["db_crash"] = f"{ENV_URL} names an external Postgres the harness cannot crash"
    if "restart" not in get_sut(sut_name).recovery_policies:
        for kind in WORKER_KINDS:
            reasons[kind] = f"{sut_name} does not support the restart recovery policy"
    return reasons


def supported_policies(sut_name: str) -> tuple[str, ...]:
    """The soak's recovery policies ``sut_name`` supports, in :data:`RECOVERY_CHOICES` order."""
    from harness.sut import get_sut

    supported = get_sut(sut_name).recovery_policies
    return tuple(p for p in RECOVERY_CHOICES if p in supported)


def _policies(args: argparse.Namespace, sut: str) -> tuple[str, ...]:
    supported = supported_policies(sut)
    if args.policies is None:
        return supported
    asked = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    unknown = [p for p in asked if p not in RECOVERY_CHOICES]
    if unknown or not asked:
        raise SoakUsageError(f"--policies {args.policies!r}: choose from "
                             f"{','.join(RECOVERY_CHOICES)}")
    missing = [p for p in asked if p not in supported]
    if missing:
        raise SoakUsageError(f"--policies: {sut} does not support {','.join(missing)} (it "
                             f"supports {','.join(supported)}); leave it out")
    return asked


def _options(args: argparse.Namespace, sut: str) -> tuple[SoakOptions, dict[str, str]]:
    unavailable = unavailable_kinds(sut)
    if args.kinds is None:
        kinds = tuple(k for k in FAULT_KINDS if k not in unavailable)
        skipped = {k: r for k, r in unavailable.items() if k in FAULT_KINDS}
    else:
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        bad = {k: unavailable[k] for k in kinds if k in unavailable}
        if bad:
            raise SoakUsageError("; ".join(f"--kinds {k}: {r}" for k, r in bad.items())
                                 + "; leave that kind out")
        skipped = {}
    options = SoakOptions(sut=sut, workflows=args.workflows, faults=args.faults, seed=args.seed,
                          workers=args.workers, kinds=kinds, max_concurrent=args.max_concurrent,
                          arrival_rate=args.arrival_rate, quiesce_bound_s=args.quiesce_bound,
                          policies=_policies(args, sut),
                          compounds=(args.faults // 10 if args.compounds is None
                                     else args.compounds),
                          worker_concurrency=args.worker_concurrency,
                          queue_concurrency=args.queue_concurrency)
    options.validate()
    _check_queue_limits(options)
    return options, skipped


def _check_queue_limits(options: SoakOptions) -> None:
    from harness.sut import get_sut

    limits = get_sut(options.sut).describe().queue_limits
    for flag, value, which in (("--worker-concurrency", options.worker_concurrency, "per_worker"),
                               ("--queue-concurrency", options.queue_concurrency,
                                "across_workers")):
        if value and not limits.settable(which):  # type: ignore[arg-type]
            raise SoakUsageError(f"{flag}: {options.sut} has no such queue limit "
                                 f"({limits.how}); leave it out")


def _check_suts(names: list[str]) -> None:
    from harness.sut import SutLoadError, get_sut, postgres_extensions_of

    for name in names:
        try:
            sut = get_sut(name)
        except (KeyError, ValueError, SutLoadError) as exc:  # ReleaseError is a ValueError
            raise SoakUsageError(f"--sut {name}: {exc}") from None
        reason = sut.available()
        if reason:
            raise SoakUsageError(f"--sut {name} cannot run here: {reason}")
    extensions = postgres_extensions_of(names)
    if extensions and not os.environ.get(ENV_URL):
        try:
            postgres_bin_dir(extensions, ", ".join(sorted(set(extensions.values()))))
        except PostgresStartError as exc:
            raise SoakUsageError(f"--sut: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from harness.env.local import LocalEnvironment
    from harness.soak._run import run_soak
    from harness.sut import postgres_extensions_of

    suts = args.sut or ["reference"]
    logging.basicConfig(level=logging.ERROR)  # a SUT client's retry chatter during db_crash
    try:
        _check_suts(suts)
        planned = [(_options(args, sut)) for sut in suts]
    except SoakUsageError as exc:
        print(f"durabench soak: {exc}", file=sys.stderr)
        return 2
    first = plan(planned[0][0])
    for kind, reason in planned[0][1].items():
        print(f"skipped fault kind {kind}: {reason}")
    print(first.describe())
    if args.plan_only:
        return 0
    out = args.out or Path("reports") / f"soak-s{args.seed}"
    results, status = [], 0
    with LocalEnvironment(postgres_extensions=postgres_extensions_of(suts)) as env:
        for options, _ in planned:
            sut_plan = for_sut(first, options)
            if sut_plan.faults != first.faults:
                print(f"{options.sut}: the same schedule, recoveries drawn from "
                      f"{','.join(options.policies)}:\n{sut_plan.describe()}")
            soak = run_soak(env, sut_plan)
            t0 = time.monotonic()
            fig = check_soak(soak.history, soak.promised, soak.live_executors,
                             queue_limits=(options.worker_concurrency,
                                           options.queue_concurrency))
            judged_s = time.monotonic() - t0
            fig.fault_errors += [e for e in soak.fault_errors if e not in fig.fault_errors]
            print(summary_text(soak, fig))
            print(f"  checkers: {judged_s:.2f}s over {fig.workflows} workflows")
            if not fig.clean:
                print(anomaly_text(soak.plan, fig))
                status = 1
            results.append((soak, fig))
    path = write(out, first, results, planned[0][1])
    print(f"soak results: {path}")
    return status
