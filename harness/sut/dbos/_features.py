"""What a DBOS Transact release offers the adapter, decided from its version in one place.

The worker (on the release's interpreter), the harness-side client and the SUT's description all
ask :func:`features_of` instead of testing versions or probing modules themselves. Each field
names the first release that has the thing (checked in the releases' wheels):

- ``owner_token`` (3.2.0): ``dbos._context.current_owner_xid``, the token an execution's claim
  wrote to ``workflow_status.owner_xid``. With it the worker reads the epoch *its own* claim set;
  without it, the epoch the row holds for its executor id when the workflow body starts (see
  :data:`EPOCH_WITHOUT_TOKEN`).
- ``output_table`` (3.0.0): outputs and errors in ``dbos.workflow_output`` (earlier: columns of
  ``dbos.workflow_status``).
- ``reenqueue_recovery`` (2.29.0): recovery re-enqueues a PENDING workflow of the dead
  executors (``reenqueue_for_recovery``); earlier releases put a queued workflow back on its
  queue (``clear_queue_assignment``) and run any other one on the recovering executor.
- ``recovery_write_retried`` (2.24.0): recovery's write of a queued workflow
  (``clear_queue_assignment``) is retried across a lost connection (``db_retry``); earlier,
  the error reaches the recovery loop, which logs it and goes on without the workflow.
- ``register_queue`` (2.20.0): ``DBOS.register_queue()`` after ``launch()``; earlier, a
  ``Queue(...)`` built before it.
- ``admin_server`` (before 3.0.0): an HTTP admin server on port 3001 by default (one port for
  every worker on the host); the worker turns it off, as the 3.x workers run without one.
- ``uuid_ossp`` (before 3.0.0): the system database migrations run ``CREATE EXTENSION
  "uuid-ossp"`` (Postgres contrib, which the embedded ``pgserver`` Postgres lacks).

Releases before :data:`OLDEST` lack the portable JSON serializer the adapter stores values with
(so the harness could not read a step's output without unpickling it).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

OLDEST = "2.14.0"
"""The oldest release with ``DBOSPortableJSONSerializer``."""

EPOCH_WITHOUT_TOKEN = (
    "before DBOS 3.2.0 an execution has no ownership token (current_owner_xid): the worker reads "
    "its epoch as the recovery_attempts of the workflow's row while the row names its executor "
    "id, once when the workflow body starts. A claim by another executor before that read still "
    "gives epoch 0 (superseded), as with the token; two processes of one executor id (a rolling "
    "restart keeping DBOS__VMID) or a claim between the execution's start and its read are not "
    "told apart, so single_active_execution's evidence is weaker on these releases"
)


@dataclass(frozen=True)
class DbosFeatures:
    """What one DBOS release offers (module docstring)."""

    version: str
    owner_token: bool
    output_table: bool
    reenqueue_recovery: bool
    recovery_write_retried: bool
    register_queue: bool
    admin_server: bool
    uuid_ossp: bool

    @property
    def postgres_extensions(self) -> frozenset[str]:
        """Postgres extensions the release's migrations create in the trial database."""
        return frozenset({"uuid-ossp"}) if self.uuid_ossp else frozenset()


def features_of(version: str) -> DbosFeatures:
    """The features of DBOS Transact ``version`` (a PEP 440 version string)."""
    v = Version(version)
    return DbosFeatures(
        version=version,
        owner_token=v >= Version("3.2.0"),
        output_table=v >= Version("3.0.0"),
        reenqueue_recovery=v >= Version("2.29.0"),
        recovery_write_retried=v >= Version("2.24.0"),
        register_queue=v >= Version("2.20.0"),
        admin_server=v < Version("3.0.0"),
        uuid_ossp=v < Version("3.0.0"),
    )


def installed_features() -> DbosFeatures:
    """The features of the DBOS this interpreter imports (a worker's release, or the harness's)."""
    from importlib import metadata

    return features_of(metadata.version("dbos"))
