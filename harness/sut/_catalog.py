"""``durabench suts``: every registered SUT, installed or not, and what it promises.

One block per SUT: its status (``available``, or the reason it cannot run here with what to
install, or why its entry point is broken), summary, promised properties, recovery policies,
checkpointing-off twin, durable store, where it is registered, and its notes. Exit status 0, or 1
when a registered entry point cannot be loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from harness.history import PROPERTIES
from harness.sut._registry import SutLoadError, get_sut, registrations
from harness.sut._releases import RunsReleases


def _entry(name: str) -> dict[str, Any]:
    reg = registrations()[name]
    entry: dict[str, Any] = {"name": name, "entry_point": reg.value,
                             "distribution": reg.distribution}  # fmt: skip
    try:
        sut = get_sut(name)
        description = sut.describe()
        reason = sut.available()
    except SutLoadError as exc:
        return {**entry, "status": "broken", "error": str(exc)}
    return {
        **entry,
        "status": "available" if reason is None else "unavailable",
        "unavailable_reason": reason,
        "install": description.install,
        "summary": description.summary,
        "checkpointing": sut.checkpointing,
        "promises": [p for p in PROPERTIES if p in sut.promises],
        "recovery_policies": sorted(sut.recovery_policies),
        "twin": sut.twin,
        "durable_store": sut.durable_store,
        "notes": list(description.notes),
        "known_findings": dict(description.known_findings),
        "effects_fenced": description.effect_fencing.fenced,
        "effect_fencing": description.effect_fencing.how,
        "claims_visible": description.claim_records.visible,
        "claim_records": description.claim_records.how,
        "store_retry_settable": description.store_retry.settable,
        "store_retry": description.store_retry.how,
        "queue_limits_settable": [name for name, on in (
            ("per_worker", description.queue_limits.per_worker),
            ("across_workers", description.queue_limits.across_workers)) if on],
        "queue_limits": description.queue_limits.how,
        "durable_sleep": description.durable_sleep.durable,
        "sleep": description.durable_sleep.how,
        "releases": (f"{sut.release_support.packages[0]}{sut.release_support.supported}"
                     if isinstance(sut, RunsReleases) else None),
    }


def _lines(e: dict[str, Any]) -> list[str]:
    where = f"  registered by: {e['distribution']} ({e['entry_point']})"
    if e["status"] == "broken":
        return [f"{e['name']}: BROKEN", f"  {e['error']}", where]
    available = e["status"] == "available"
    status = "available" if available else f"not available: {e['unavailable_reason']}"
    lines = [f"{e['name']}: {status}", f"  {e['summary']}"]
    if not available and e["install"]:
        lines.append(f"  install: {e['install']}")
    lines += [
        f"  promises: {', '.join(e['promises']) or '(nothing)'}",
        f"  not promised: {', '.join(p for p in PROPERTIES if p not in e['promises']) or '-'}",
        f"  recovery policies: {', '.join(e['recovery_policies'])}",
        f"  checkpointing: {'on' if e['checkpointing'] else 'off'}; "
        f"twin: {e['twin'] or '(none: it is itself a checkpointing-off baseline)'}",
        f"  durable store (db_crash): {e['durable_store']}",
        f"  effects fenced: {'yes' if e['effects_fenced'] else 'no'} ({e['effect_fencing']})",
        f"  claims seen as they happen (follow-up faults on a claim): "
        f"{'yes' if e['claims_visible'] else 'no'} ({e['claim_records']})",
        f"  store retry window set by store_retry_s: "
        f"{'yes' if e['store_retry_settable'] else 'no'} ({e['store_retry']})",
        f"  queue concurrency limits set by worker_concurrency / queue_concurrency: "
        f"{', '.join(e['queue_limits_settable']) or 'none'} ({e['queue_limits']})",
        f"  durable sleep: {'yes' if e['durable_sleep'] else 'no'} ({e['sleep']})",
        where,
    ]
    if e["releases"]:
        lines.append(f"  other releases: --sut {e['name']}==VERSION, {e['releases']} (installed "
                     "once into the cache's releases/ directory)")
    lines += [f"  note: {n}" for n in e["notes"]]
    lines += [f"  known finding [{k}]: {v}" for k, v in e["known_findings"].items()]
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per SUT per line")


def run_suts(args: argparse.Namespace) -> int:
    try:
        names = list(registrations())
    except SutLoadError as exc:
        print(f"durabench suts: {exc}", file=sys.stderr)
        return 1
    if not names:
        print("durabench suts: no SUT is registered (entry point group durabench.suts); "
              "reinstall durabench", file=sys.stderr)  # fmt: skip
        return 1
    entries = [_entry(n) for n in names]
    for e in entries:
        if args.json:
            print(json.dumps(e, sort_keys=True))
        else:
            print("\n".join(_lines(e)))
    return 1 if any(e["status"] == "broken" for e in entries) else 0
