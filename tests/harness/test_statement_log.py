"""The statement log (harness/env/statements.py): parsing the server log, and the real thing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from harness.env.postgres import EmbeddedPostgres, create_database
from harness.env.statements import Statement, StatementLog, log_statements, sent_by
from harness.faults import DbCrashFault, KillFault
from harness.scenario import research_trial
from harness.trial import FollowUp

PREFIX = "2026-12-07 01:00:00.000 UTC [{pid}] <{db}> {{{app}}} LOG:  "


def _line(db: str, pid: int, body: str, app: str = "") -> str:
    return PREFIX.format(pid=pid, db=db, app=app) + body + "\n"


def test_a_matching_statement_of_the_database_is_found_after_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(_line("trial", 7, "statement: UPDATE t SET epoch = epoch + 1"))
    statements = StatementLog(log, "trial")
    mark = statements.mark()
    with open(log, "a") as out:
        out.write(_line("other", 8, "statement: UPDATE t SET epoch = epoch + 1"))  # not ours
        out.write("2026-12-07 01:00:00.000 UTC [9] LOG:  checkpoint starting: time\n")
        out.write(_line("trial", 10, "execute <unnamed>: SELECT 1"))
        out.write(_line("trial", 11, "execute <unnamed>: WITH c AS (\n\tSELECT 1)\n\tUPDATE t SET"
                                     "\n\t  epoch = epoch + 1"))
    found = statements.wait(r"UPDATE t SET\s+epoch", mark, timeout_s=1)
    assert found.pid == 11 and found.text.startswith("WITH c AS (")
    assert statements.wait(r"UPDATE t", 0, timeout_s=1).pid == 7, "from the start: the first"


def test_a_statement_is_told_by_its_sender(tmp_path: Path) -> None:
    """Who sent it: the session's application_name (a local worker's PGAPPNAME, or a SUT's own
    name with the executor id in it)."""
    log = tmp_path / "postgres.log"
    log.write_text(_line("trial", 7, "statement: SELECT pending", app="w1-aa11bb.0")
                   + _line("trial", 8, "statement: SELECT pending",
                           app="reference_runtime:worker:w2-cc22dd"))  # fmt: skip
    statements = StatementLog(log, "trial")
    first = statements.wait("SELECT pending", 0, timeout_s=1)
    assert (first.pid, first.application) == (7, "w1-aa11bb.0")
    second = statements.wait("SELECT pending", statements.mark() - len(
        _line("trial", 8, "statement: SELECT pending", app="reference_runtime:worker:w2-cc22dd")),
        timeout_s=1)  # fmt: skip
    assert second.pid == 8
    workers = ["w1-aa11bb", "w2-cc22dd", "w2-cc22"]
    assert sent_by(first, workers) == "w1-aa11bb"
    assert sent_by(second, workers) == "w2-cc22dd", "a whole id, not a prefix of another"
    assert sent_by(Statement(9, "SELECT 1", 0, "psql"), workers) is None


def test_a_statement_written_in_two_parts_is_matched_once_whole(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text("")
    statements = StatementLog(log, "trial")
    with open(log, "a") as out:
        out.write(PREFIX.format(pid=3, db="trial", app="") + "statement: UPDATE t\n\tSET ep")
    found: list[int] = []
    waiter = threading.Thread(target=lambda: found.append(
        statements.wait(r"SET epoch", 0, timeout_s=5).pid))
    waiter.start()
    time.sleep(0.1)
    assert not found
    with open(log, "a") as out:
        out.write("och = 1\n")
    waiter.join(5)
    assert found == [3]


def test_no_match_in_time_is_a_timeout_that_names_the_pattern(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text(_line("trial", 1, "statement: SELECT 1"))
    with pytest.raises(TimeoutError, match=r"'UPDATE' within 0.1s"):
        StatementLog(log, "trial").wait("UPDATE", 0, timeout_s=0.1)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"when": "statement"}, "needs pattern="),
    ({"when": "healed", "pattern": "x"}, "only such a follow-up takes one"),
    ({"when": "statement", "pattern": "(unclosed"}, "is not a regular expression"),
])  # fmt: skip
def test_a_statement_anchor_needs_a_valid_pattern(kwargs: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FollowUp(KillFault(), **kwargs)  # type: ignore[arg-type]


def test_two_patterns_are_two_trials_and_the_pattern_is_recorded() -> None:
    def spec(pattern: str) -> str:
        then = (FollowUp(DbCrashFault(), when="statement", pattern=pattern),)
        return research_trial("x", "reference", KillFault(), "mid_step_late", then=then).trial_id
    assert spec("UPDATE a") != spec("UPDATE b")
    assert "-then-db_crash-statement~" in spec("UPDATE a")
    follow_up = FollowUp(DbCrashFault(), when="statement", pattern="UPDATE a")
    assert follow_up.to_json()["pattern"] == "UPDATE a"


def test_the_embedded_postgres_logs_the_statements_of_a_database_told_to() -> None:
    with EmbeddedPostgres(run_id="statement-log-test") as pg:
        url = create_database(pg.url, "stmtlog")
        name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        other = create_database(pg.url, "quiet")
        log_statements(pg.url, name)
        statements = StatementLog(pg.log_path, name)
        mark = statements.mark()
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("SELECT 'from the quiet one'")
        with psycopg.connect(url, autocommit=True, application_name="w9-ee33ff.2") as conn:
            conn.execute("SELECT %s::text AS marker", ("whatever",))
        found = statements.wait(r"AS marker", mark, timeout_s=10)
        assert "$1::text" in found.text, found.text
        assert found.application == "w9-ee33ff.2"
        with pytest.raises(TimeoutError):
            statements.wait("from the quiet one", mark, timeout_s=0.5)
