"""The harness's writes to a DBOS system database, made by the DBOS release that owns it.

Starting a workflow (``DBOSClient.enqueue``) writes rows whose columns change between releases
(3.2.0's client fills a ``creator_xid`` column that 3.1's schema lacks). So for a pinned release
the harness makes that write through that release's own ``DBOSClient``, in its own
interpreter: this module, run as ``<release python> -m harness.sut.dbos.release_client`` with
the DSN in ``DURABENCH_WORKER_POSTGRES_URL``. The unpinned SUT makes the same call in the
harness's process (:class:`harness.sut.dbos.DbosClient`).

Protocol (one JSON object a line): the helper prints ``{"ready": true}`` once its client is made,
then answers each request on stdin with one line:

- ``{"op": "enqueue", "workload": W, "workflow_id": ID, "params": {...}}`` -> ``{"ok": true}``

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


def _answer(client: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    try:
        if request.get("op") == "enqueue":
            enqueue(client, request["workload"], request["workflow_id"], request["params"])
            return {"ok": True}
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
                answer = _answer(client, json.loads(line))
                print(json.dumps(answer), file=answers, flush=True)
    finally:
        client.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
