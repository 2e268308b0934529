"""Reading the results store: JSONL files written by the trial runner, one JSON object per line.

Contract:
- Nothing in the input is modified; files are only opened for reading.
- Every line is judged on its own. A line that cannot be used (empty, not JSON, not an object,
  missing or malformed fields, a schema newer than :data:`SUPPORTED_SCHEMA`) becomes an error
  :class:`LoadIssue` naming ``file:line``; the other lines are still loaded.
- Lines whose ``kind`` is not ``"trial"`` are skipped with a warning (future record kinds).
- A file that cannot be opened at all raises :class:`ResultsInputError`.
- Each trial counts once: a line whose (env, run, trial_id, fault, fault_params, trigger_spec,
  workload_params) was already loaded is skipped with a warning naming the first line. The *run*
  is the run id's first dash-separated field (the session's start time that ``new_run_id`` puts
  first), so the per-xdist-worker run ids of one session (``<time>-<hex>-gw0``,
  ``<time>-<hex>-gw1``) count as one run. The fault's and trigger's parameters are part of the
  key because stores written before trial ids named the fault's parameters
  (:func:`harness.trial.fault_label`) hold cases of one scenario that share a trial id (e.g. a
  link cut ``down`` and black-holed ``timeout`` at the same crash point): different trials.
- Several files are the stores of one run's shards (``pytest --shard K/N``), merged into one
  report: they must hold the same run labels (:func:`harness.run_plan.run_label`: the run id
  without the ``-main`` / ``-gw<N>`` its environment added), and a trial (by the key above)
  must be in one of them only. Otherwise :class:`StoreMergeError`, one line naming both
  labels, or the trial and both files. One file is read as before: a repeated trial in it is
  a warning.

Lifecycle of one line: decode -> parse JSON -> check ``schema`` -> upgrade to the current schema
(one function per old version in :data:`harness.results.UPGRADES`) -> dispatch on ``kind`` ->
validate a trial and read it as a :class:`harness.results.ResultRecord` (the type the runner
writes) -> drop a duplicate -> flatten it into a row (verdicts become ``verdict.<property>``
columns; ``history`` is kept aside).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from harness.history import PROPERTIES
from harness.results import RESULT_SCHEMA, UPGRADES, ResultRecord, ResultRecordError
from harness.run_plan import run_label

SUPPORTED_SCHEMA = RESULT_SCHEMA
"""The newest results-store schema this code reads."""

VerdictValue = Literal["true", "false", "unknown", "not promised"]
VERDICT_VALUES: tuple[str, ...] = ("true", "false", "unknown", "not promised")

IssueLevel = Literal["error", "warning"]

ID_COLUMNS: tuple[str, ...] = (
    "run_id", "trial_id", "scenario", "sut", "sut_version", "twin", "checkpointing", "workload",
    "fault", "trigger", "recovery", "seed", "env", "toxiproxy",
)
FIGURE_COLUMNS: tuple[str, ...] = (
    "crash_step", "tokens_billed", "golden_tokens_billed", "redundant_tokens", "redundant_calls",
    "cost_usd", "redundant_cost_usd", "fault_at_ns", "frontier", "time_to_resume_s",
    "time_to_recover_s", "completion_delay_s", "duration_s", "golden_duration_s", "wall_s",
    "tool_executions", "redundant_tool_calls",
)
JSON_COLUMNS: tuple[str, ...] = ("workload_params", "trigger_spec", "versions")
TAIL_COLUMNS: tuple[str, ...] = (
    "valid", "verdict_summary", "host", "started_at", "shard", "source", "line",
)
VERDICT_PREFIX = "verdict."

_REQUIRED_TEXT = ("trial_id", "scenario", "sut")


class ResultsInputError(Exception):
    """Raised when a results file cannot be opened or read at all (missing, a directory, ...)."""


class StoreMergeError(ResultsInputError):
    """Raised when several stores are not the shards of one run: different run labels, a trial
    in two of them, or one file given twice."""


@dataclass(frozen=True)
class LoadIssue:
    """One problem with one line of a results file."""

    source: str
    line: int
    level: IssueLevel
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.level}: {self.message}"


@dataclass(frozen=True)
class LoadedResults:
    """The usable trials of one or more results files.

    ``trials`` has one row per trial line (in file order, files in the order given) and no history
    column; ``histories[i]`` is the raw ``history`` JSON of row ``i`` (None when absent).
    """

    trials: pd.DataFrame
    histories: tuple[Mapping[str, Any] | None, ...]
    issues: tuple[LoadIssue, ...]
    sources: tuple[str, ...]

    @property
    def errors(self) -> tuple[LoadIssue, ...]:
        return tuple(i for i in self.issues if i.level == "error")

    @property
    def warnings(self) -> tuple[LoadIssue, ...]:
        return tuple(i for i in self.issues if i.level == "warning")


class _LineError(Exception):
    """A line is unusable; the message says why and what to do."""


# -- schema upgrades ------------------------------------------------------------------------------

_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = dict(UPGRADES)
"""``_UPGRADES[v]`` turns a schema-``v`` record into a schema-``v+1`` record (harness.results)."""


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """Check ``record["schema"]`` and upgrade the record to :data:`SUPPORTED_SCHEMA`."""
    version = record.get("schema")
    if version is None:
        raise _LineError('no "schema" field: every results line must carry its schema version')
    if isinstance(version, bool) or not isinstance(version, int):
        raise _LineError(f'"schema" must be an integer, got {version!r}')
    if version > SUPPORTED_SCHEMA:
        raise _LineError(
            f"schema {version} is newer than this durabench reads (up to {SUPPORTED_SCHEMA}); "
            "upgrade durabench to report on these results"
        )
    while version < SUPPORTED_SCHEMA:
        upgrade = _UPGRADES.get(version)
        if upgrade is None:
            raise _LineError(f"schema {version} is not a known results-store schema")
        record = upgrade(record)
        version += 1
    return record


# -- validation and flattening --------------------------------------------------------------------

def _check_trial(record: Mapping[str, Any]) -> None:
    for name in _REQUIRED_TEXT:
        if not isinstance(record.get(name), str) or not record[name]:
            raise _LineError(f'trial line needs a non-empty string "{name}"')
    if not isinstance(record.get("checkpointing"), bool):
        raise _LineError('trial line needs a boolean "checkpointing"')
    for name in (*FIGURE_COLUMNS, "seed"):
        value = record.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _LineError(f'"{name}" must be a number or null, got {value!r}')
    verdicts = record.get("verdicts", {})
    if not isinstance(verdicts, dict):
        raise _LineError(f'"verdicts" must be an object, got {type(verdicts).__name__}')
    for prop, value in (*verdicts.items(), ("valid", record.get("valid", "unknown"))):
        if value not in VERDICT_VALUES:
            raise _LineError(
                f'verdict "{prop}" is {value!r}; expected one of {", ".join(VERDICT_VALUES)}'
            )


def _read_record(record: Mapping[str, Any]) -> ResultRecord:
    try:
        return ResultRecord.from_json(record)
    except (ResultRecordError, TypeError) as exc:
        raise _LineError(f"not a results record: {exc}") from exc


TrialKey = tuple[str, str, str, str]


def _trial_key(record: Mapping[str, Any]) -> TrialKey:
    """What makes two lines the same trial (module docstring)."""
    spec = json.dumps([record.get("fault"), record.get("fault_params"),
                       record.get("trigger_spec"), record.get("workload_params")],
                      sort_keys=True, default=str)
    return (str(record["env"]), run_of(str(record["run_id"])), str(record["trial_id"]), spec)


FindingKey = tuple[str, str]
"""(run label, trial id): how a results row is matched to its run's expected failures."""


def finding_key(row: Mapping[Any, Any]) -> FindingKey:
    """The (run label, trial id) of a results row: a trial id that one run expected to fail (a
    known finding) and another run of the same store did not stays a failure in the other."""
    return (run_label(str(row.get("run_id") or ""), "trial"), str(row.get("trial_id") or ""))


def run_of(run_id: str) -> str:
    """The session a run id belongs to (its first dash-separated field; module docstring)."""
    return run_id.split("-", 1)[0]


def _row(record: Mapping[str, Any], source: str, line: int) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("history", "verdicts", "schema", "kind"):
            continue
        row[key] = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
    for prop, value in record.get("verdicts", {}).items():
        row[VERDICT_PREFIX + prop] = value
    row.setdefault("valid", "unknown")
    row["source"] = source
    row["line"] = line
    return row


def _parse_line(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not text.strip():
        raise _LineError("empty line; expected one JSON object per line")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _LineError(
            f"not valid JSON ({exc.msg} at column {exc.colno}); "
            "if this is the file's last line, the runner was probably killed while writing it"
        ) from exc
    if not isinstance(value, dict):
        raise _LineError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _read_lines(path: Path) -> Iterable[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            yield from enumerate(handle, start=1)
    except OSError as exc:
        raise ResultsInputError(
            f"cannot read results file {path}: {exc.strerror or exc}; "
            "pass the JSONL file the trial runner wrote (e.g. results.jsonl)"
        ) from exc


# -- loading --------------------------------------------------------------------------------------

def _column_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    verdicts = [VERDICT_PREFIX + p for p in PROPERTIES]
    verdicts += sorted(k for k in seen if k.startswith(VERDICT_PREFIX) and k not in verdicts)
    known = [*ID_COLUMNS, *FIGURE_COLUMNS, *verdicts, *JSON_COLUMNS, *TAIL_COLUMNS]
    return known + [k for k in seen if k not in known]


def _frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    columns = _column_order(rows)
    frame = pd.DataFrame(list(rows), columns=columns)
    for name in FIGURE_COLUMNS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    # nanosecond timestamps exceed float precision: keep them exact
    frame["fault_at_ns"] = _exact_ints([row.get("fault_at_ns") for row in rows])
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["checkpointing"] = frame["checkpointing"].astype("bool")
    for name in columns:
        if name.startswith(VERDICT_PREFIX):
            frame[name] = frame[name].astype("object").where(frame[name].notna(), None)
    return frame.reset_index(drop=True)


def _exact_ints(values: Sequence[Any]) -> pd.Series:
    cleaned = [int(v) if is_number(v) else None for v in values]
    return pd.Series(pd.array(cleaned, dtype="Int64"))


@dataclass
class _Merge:
    """What the loader gathers across files to judge a merge (module docstring)."""

    seen: dict[TrialKey, tuple[str, int]]
    labels: dict[str, set[str]]
    clash: str | None = None  # the first trial found in two files

    def label(self, source: str, record: Mapping[str, Any]) -> None:
        run_id = record.get("run_id")
        if isinstance(run_id, str):
            self.labels.setdefault(source, set()).add(run_label(run_id, str(record.get("kind"))))


def _load_file(
    path: Path,
    rows: list[dict[str, Any]],
    histories: list[Mapping[str, Any] | None],
    issues: list[LoadIssue],
    merge: _Merge,
) -> None:
    source = str(path)
    seen = merge.seen
    for number, raw in _read_lines(path):
        if not raw.strip() and _is_trailing_blank(path, number):
            continue
        try:
            record = upgrade_record(_parse_line(raw))
            merge.label(source, record)
            kind = record.get("kind")
            if kind in ("golden", "run"):  # a baseline run (its figures are on each trial line);
                continue  # a run's plan (harness.run_plan reads those)
            if kind != "trial":
                issues.append(LoadIssue(source, number, "warning",
                                        f"ignoring a line of kind {kind!r}; this durabench "
                                        "reads only \"trial\" lines"))
                continue
            _check_trial(record)
            record = _read_record(record).to_json()
        except _LineError as exc:
            issues.append(LoadIssue(source, number, "error", str(exc)))
            continue
        key = _trial_key(record)
        if key in seen:
            first, line = seen[key]
            if first != source and merge.clash is None:
                merge.clash = (f"trial {key[2]} is in both {first} (line {line}) and {source} "
                               f"(line {number}); each trial must be in one shard's store only "
                               "(did two shards run it, or is one store given twice?)")
            issues.append(LoadIssue(source, number, "warning",
                                    f"trial {key[2]} of run {key[1]} ({key[0]}) is already at "
                                    f"{first}:{line}; counted once"))
            continue
        seen[key] = (source, number)
        rows.append(_row(record, source, number))
        history = record.get("history")
        histories.append(history if isinstance(history, dict) else None)


def _is_trailing_blank(path: Path, number: int) -> bool:
    """Blank lines at the very end of a file are an editor's habit, not damaged results."""
    with path.open("rb") as handle:
        rest = [raw for n, raw in enumerate(handle, start=1) if n >= number]
    return all(not raw.strip() for raw in rest)


def load_results(paths: Sequence[str | Path]) -> LoadedResults:
    """Load every trial line of ``paths``; the module docstring says how bad lines are handled
    and when several files cannot be merged (:class:`StoreMergeError`)."""
    rows: list[dict[str, Any]] = []
    histories: list[Mapping[str, Any] | None] = []
    issues: list[LoadIssue] = []
    merge = _Merge(seen={}, labels={})
    _refuse_repeated_paths(paths)
    for path in paths:
        _load_file(Path(path), rows, histories, issues, merge)
    if len(paths) > 1:
        _refuse_mixed_runs(merge.labels)
        if merge.clash is not None:
            raise StoreMergeError(merge.clash)
    return LoadedResults(
        trials=_frame(rows),
        histories=tuple(histories),
        issues=tuple(issues),
        sources=tuple(str(p) for p in paths),
    )


def _refuse_repeated_paths(paths: Sequence[str | Path]) -> None:
    resolved: dict[Path, str] = {}
    for path in paths:
        real = Path(path).resolve()
        if real in resolved:
            also = "" if resolved[real] == str(path) else f" (as {resolved[real]} and {path})"
            raise StoreMergeError(f"{path} is given twice{also}; pass each shard's store once")
        resolved[real] = str(path)


def _refuse_mixed_runs(labels: Mapping[str, set[str]]) -> None:
    """Every file that names a run must name the same runs (files with no line name none)."""
    named = [(source, found) for source, found in labels.items() if found]
    for source, found in named[1:]:
        first, expected = named[0]
        if found != expected:
            raise StoreMergeError(
                f"cannot merge stores of different runs: {first} holds run "
                f"{', '.join(sorted(expected))} but {source} holds run "
                f"{', '.join(sorted(found))}; merge only the shards of one run (give every "
                "shard the same pytest --run-id)")


def is_number(value: Any) -> bool:
    """True for a finite int/float that is not a bool and not NaN (pandas' missing value)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and not (isinstance(value, float) and math.isnan(value))
    )
