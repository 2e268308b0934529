"""The store's schema and its versioned, idempotent migration.

Migration steps, all in one transaction under a transaction-scoped advisory lock (so concurrent
first connects are safe):
1. create the schema and its ``schema_version`` table if missing;
2. read the highest applied version; newer than :data:`SCHEMA_VERSION` => SchemaVersionError;
3. apply each missing migration in order and record its version.
"""

from __future__ import annotations

import re

import psycopg

from reference_runtime._errors import SchemaVersionError

DEFAULT_SCHEMA = "durabench_rt"
SCHEMA_VERSION = 5
_LOCK_KEY = 0x6475726162  # "durab": one key for every schema; migrations are rare and short.
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE {s}.workflows (
        workflow_id       text PRIMARY KEY,
        name              text NOT NULL,
        parent_id         text,
        status            text NOT NULL CHECK (status IN
                              ('PENDING', 'SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER')),
        inputs            jsonb NOT NULL,
        output            jsonb,
        error             jsonb,
        executor_id       text,
        epoch             bigint NOT NULL DEFAULT 0,
        lease_expires_at  timestamptz,
        recovery_attempts integer NOT NULL DEFAULT 0,
        created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX workflows_pending ON {s}.workflows (created_at) WHERE status = 'PENDING';
    CREATE INDEX workflows_parent ON {s}.workflows (parent_id) WHERE parent_id IS NOT NULL;
    CREATE TABLE {s}.steps (
        workflow_id  text NOT NULL,
        seq          integer NOT NULL,
        name         text NOT NULL,
        output       jsonb,
        error        jsonb,
        executor_id  text NOT NULL,
        epoch        bigint NOT NULL,
        recorded_ns  bigint NOT NULL,
        PRIMARY KEY (workflow_id, seq)
    );
    """,
    # Every claim, written by the claim statement itself: who took which epoch, from whom, why.
    2: """
    CREATE TABLE {s}.claims (
        workflow_id     text NOT NULL,
        epoch           bigint NOT NULL,
        executor_id     text NOT NULL,
        previous_owner  text,
        reason          text NOT NULL CHECK (reason IN
                            ('unowned', 'own', 'lease_expired', 'session_ended')),
        claimed_at      timestamptz NOT NULL,
        PRIMARY KEY (workflow_id, epoch)
    );
    """,
    # Who wrote the outcome: the epoch and executor of the execution whose terminal write was
    # accepted (NULL while PENDING, and for CANCELLED: a client, not an execution, ended it).
    3: """
    ALTER TABLE {s}.workflows
        ADD COLUMN IF NOT EXISTS outcome_epoch    bigint,
        ADD COLUMN IF NOT EXISTS outcome_executor text;
    """,
    # Write-ahead records of resumable steps (``_pending``): the external reference (e.g. an LLM
    # provider's response id) a step recorded before waiting on it, at the step's position.
    4: """
    CREATE TABLE IF NOT EXISTS {s}.pending_steps (
        workflow_id  text NOT NULL,
        seq          integer NOT NULL,
        name         text NOT NULL,
        ref          jsonb NOT NULL,
        executor_id  text NOT NULL,
        epoch        bigint NOT NULL,
        recorded_ns  bigint NOT NULL,
        PRIMARY KEY (workflow_id, seq)
    );
    """,
    # Whether the owner held its executor lock when it last claimed or renewed the workflow
    # (``_liveness``): only then may its missing lock be taken for its death.
    5: """
    ALTER TABLE {s}.workflows
        ADD COLUMN IF NOT EXISTS owner_locked boolean NOT NULL DEFAULT false;
    """,
}


def check_schema_name(schema: str) -> str:
    """Schema names are interpolated into SQL text, so only plain lowercase identifiers pass."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(
            f"invalid schema name {schema!r}: use lowercase letters, digits and underscores"
        )
    return schema


def migrate(conn: psycopg.Connection, schema: str) -> int:
    """Bring ``schema`` up to :data:`SCHEMA_VERSION`; returns the version found before."""
    s = check_schema_name(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL)")
        row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {s}.schema_version").fetchone()
        found = int(row[0]) if row else 0
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"schema {s!r} is at version {found}, but this reference_runtime understands up "
                f"to version {SCHEMA_VERSION}: it was created by a newer runtime. Upgrade "
                "reference_runtime, or point it at another schema or database."
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            conn.execute(_MIGRATIONS[version].format(s=s))
            conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES (%s)", (version,))
    return found
