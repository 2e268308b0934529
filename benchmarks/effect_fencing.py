"""What fencing side effects costs: the claim's announcement and the sink's check, side by side.

Run: ``.venv/bin/python benchmarks/effect_fencing.py`` (from the repository root). Uses
``DURABENCH_POSTGRES_URL`` when set, else an embedded Postgres on 127.0.0.1, and a real provider
process (the effect sink) on 127.0.0.1.

Measures, in one run, alternating the two sides so that load drifts hit both alike:
1. claim_us / claim_fenced_us: one reference-runtime claim of one PENDING workflow, without and
   with ``announce_epochs`` (the claim then runs in a transaction: claim statement, the sink's
   ``POST /v1/effects/fence``, the claim log's time, commit) -- the cost is per claim (a start or
   a takeover), not per step;
2. effect_us / effect_fenced_us: one ``POST /v1/effects`` to the sink for a workflow with no
   announced epoch and for one with an announced epoch (the sink compares the delivery's epoch
   with the workflow's fence in memory) -- the cost per effect.

The last line is ``claim_us=<median> claim_fenced_us=<median> claim_ratio=<fenced/plain>
effect_us=<median> effect_fenced_us=<median> effect_ratio=<fenced/plain> n=<samples per side>``.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.env.postgres import postgres_from_env
from harness.llm import ProviderProcess
from harness.workloads import announce_fences
from reference_runtime import App, Runtime

N = 300
app = App("effect_fencing")


@app.workflow()
def idle() -> None:
    return None


def _claim_us(rt: Runtime, announce: object) -> float:
    wid = f"w-{uuid.uuid4().hex[:12]}"
    rt.start_workflow(idle, workflow_id=wid)
    started = time.perf_counter()
    claims = rt.store.claim(f"bench-{wid}", names=["idle"], held=[], limit=1, lease_s=3600,
                            max_recovery_attempts=10, detect=False,
                            announce=announce)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    assert [c.workflow_id for c in claims] == [wid], claims
    return elapsed * 1e6


def _effect_us(http: httpx.Client, workflow_id: str) -> float:
    body = {"key": uuid.uuid4().hex, "name": "publish", "workflow_id": workflow_id}
    started = time.perf_counter()
    response = http.post("/v1/effects", json=body, headers={"X-Durabench-Attempt": "3"})
    elapsed = time.perf_counter() - started
    assert response.json() == {"applied": True}, response.text
    return elapsed * 1e6


def main() -> int:
    with postgres_from_env(run_id="bench-fencing") as pg, \
            ProviderProcess(tokens_per_second=0, run_id="bench-fencing") as provider:
        def announce(fences: object) -> None:
            announce_fences(provider.url, fences)  # type: ignore[arg-type]

        schema = f"durabench_fence_bench_{uuid.uuid4().hex[:8]}"
        with Runtime(app, pg.url, "bench", schema=schema) as rt, \
                httpx.Client(base_url=provider.url, timeout=10) as http:
            announce_fences(provider.url, [("fenced-wf", 3)])
            plain, fenced, effect, effect_fenced = [], [], [], []
            for _ in range(N):
                plain.append(_claim_us(rt, None))
                fenced.append(_claim_us(rt, announce))
                effect.append(_effect_us(http, "unfenced-wf"))
                effect_fenced.append(_effect_us(http, "fenced-wf"))
    c, cf = statistics.median(plain), statistics.median(fenced)
    e, ef = statistics.median(effect), statistics.median(effect_fenced)
    print(f"claim: {c:.0f} us plain, {cf:.0f} us with the announcement (+{cf - c:.0f} us per "
          f"claim); effect: {e:.0f} us, {ef:.0f} us fenced (n={N} each)")
    print(f"claim_us={c:.0f} claim_fenced_us={cf:.0f} claim_ratio={cf / c:.2f} effect_us={e:.0f} "
          f"effect_fenced_us={ef:.0f} effect_ratio={ef / e:.2f} n={N}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
