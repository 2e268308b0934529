"""The harness's writes to a DBOS system database, made by the DBOS release that owns it.

Starting a workflow (``DBOSClient.enqueue``) and the supervisor's hand-over of a dead executor's
workflows write rows whose columns change between releases (3.2.0's client fills a
``creator_xid`` column that 3.1's schema lacks). So for a pinned release the harness runs these
writes through that release's own ``DBOSClient``, in its own interpreter: this module, run as
``<release python> -m harness.sut.dbos.release_client`` with the DSN in
``DURABENCH_WORKER_POSTGRES_URL``. The unpinned SUT makes the same calls in the harness's
process (:class:`harness.sut.dbos.DbosClient`).

Protocol (one JSON object a line): the helper prints ``{"ready": true}`` once its client is made,
then answers each request on stdin with one line:

- ``{"op": "enqueue", "workload": W, "workflow_id": ID, "params": {...}}`` -> ``{"ok": true}``
- ``{"op": "recover", "dead_executor": X}`` -> ``{"ok": true, "workflows": [ID, ...]}``

and ``{"ok": false, "error": "..."}`` when the call raised. It exits when stdin closes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from harness.sut._worker_cli import ENV_POSTGRES
from harness.sut.dbos._features import DbosFeatures, installed_features


def make_client(postgres_url: str, features: DbosFeatures) -> Any:
    """The installed release's ``DBOSClient`` on the trial's system database, storing values as
    portable JSON (never pickle)."""
    from dbos import DBOSClient
    from dbos._serialization import DBOSPortableJSONSerializer

    from harness.sut.dbos import APP_NAME, sqlalchemy_url

    extra: dict[str, Any] = {}
    if features.owner_token:  # 3.2.0 and later: connect on first use, label the sessions
        extra = {"application_name": APP_NAME, "lazy": True}
    return DBOSClient(system_database_url=sqlalchemy_url(postgres_url),
                      serializer=DBOSPortableJSONSerializer(), **extra)  # fmt: skip


def enqueue(client: Any, workload: str, workflow_id: str, params: Mapping[str, Any]) -> None:
    from harness.sut.dbos import APP_VERSION, QUEUE

    client.enqueue({"queue_name": QUEUE, "workflow_name": workload,
                    "workflow_id": workflow_id, "app_version": APP_VERSION},
                   dict(params))  # fmt: skip


def recover(client: Any, dead_executor: str, features: DbosFeatures) -> list[str]:
    """What the release's own ``recover_pending_workflows([dead_executor])`` does to each of the
    dead executor's PENDING workflows of this version, from outside any executor (DBOS's
    ``_recovery._recover_workflow``): since 2.29.0 it re-enqueues the workflow for any live
    executor; before, it puts a queued workflow back on its queue (``clear_queue_assignment``)
    and runs any other one on the recovering executor itself, which the harness is not -- such a
    workflow (a ``fan_out`` child) is left for its parent's re-execution to start again."""
    from harness.sut.dbos import APP_VERSION

    sys_db = client._sys_db
    pending = sys_db.get_pending_workflows(dead_executor, APP_VERSION)
    if features.reenqueue_recovery:
        from dbos._utils import INTERNAL_QUEUE_NAME

        return [p.workflow_id for p in pending
                if sys_db.reenqueue_for_recovery(p.workflow_id, [dead_executor],
                                                 INTERNAL_QUEUE_NAME)]  # fmt: skip
    return [p.workflow_id for p in pending
            if p.queue_name and sys_db.clear_queue_assignment(p.workflow_id)]  # fmt: skip


def _answer(client: Any, features: DbosFeatures, request: Mapping[str, Any]) -> dict[str, Any]:
    try:
        if request.get("op") == "enqueue":
            enqueue(client, request["workload"], request["workflow_id"], request["params"])
            return {"ok": True}
        if request.get("op") == "recover":
            return {"ok": True, "workflows": recover(client, request["dead_executor"], features)}
        return {"ok": False, "error": f"unknown request {request.get('op')!r}"}
    except Exception as exc:  # the harness raises it on its side, with this text
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    postgres = os.environ.get(ENV_POSTGRES)
    if not postgres:
        print(f"{ENV_POSTGRES} is not set", file=sys.stderr)
        return 2
    # Answers only on the protocol stream; anything else printed goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    features = installed_features()
    client = make_client(postgres, features)
    print(json.dumps({"ready": True, "dbos": features.version}), file=answers, flush=True)
    try:
        for line in sys.stdin:
            if line.strip():
                answer = _answer(client, features, json.loads(line))
                print(json.dumps(answer), file=answers, flush=True)
    finally:
        client.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
