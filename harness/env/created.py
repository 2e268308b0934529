"""What a run created, recorded as it is created, so that a sweep removes that and nothing else.

A name proves nothing: ``/tmp/durabench-results/`` or ``/tmp/durabench-notes.txt`` may be a user's.
So every temp file, temp dir and memory cgroup a run makes is made through this module, which
appends its absolute path to the run's **creation record** ``<tmp>/durabench-runs/<run id>.created``
right after making it (one path per line, written with ``O_APPEND`` so the processes of one run can
share the record). :mod:`harness.env.sweep` removes an entry only when the creation record of a run
it sweeps lists it *and* its name still carries that run id; it removes the record last.

A record whose entries are all gone is deleted when its run ends cleanly
(:func:`forget_if_clean`), so records do not pile up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from harness.env.lifetime import run_record_path

__all__ = [
    "created_paths",
    "creation_record_path",
    "creation_records",
    "forget_if_clean",
    "record_created",
    "temp_dir",
    "temp_file",
]

SUFFIX = ".created"


def creation_record_path(run_id: str) -> Path:
    """``<tmp>/durabench-runs/<run id>.created``."""
    return run_record_path(run_id).parent / f"{run_id}{SUFFIX}"


def record_created(run_id: str, path: Path | str) -> None:
    """Append ``path`` (made absolute) to the creation record of ``run_id``."""
    record = creation_record_path(run_id)
    record.parent.mkdir(mode=0o700, exist_ok=True)
    line = (str(Path(path).absolute()) + "\n").encode()
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def temp_dir(run_id: str, prefix: str, dir: Path | str | None = None) -> Path:
    """:func:`tempfile.mkdtemp`, recorded. ``prefix`` must carry the run id (a sweep checks)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    record_created(run_id, path)
    return path


def temp_file(run_id: str, prefix: str, suffix: str = "",
              dir: Path | str | None = None) -> tuple[int, Path]:
    """:func:`tempfile.mkstemp`, recorded: an open descriptor and the path."""
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
    record_created(run_id, name)
    return handle, Path(name)


def created_paths(record: Path) -> tuple[Path, ...]:
    """The paths a creation record lists, in creation order, each once (none if unreadable)."""
    try:
        lines = record.read_text(errors="replace").splitlines()
    except OSError:
        return ()
    return tuple(dict.fromkeys(Path(line) for line in lines if line.startswith("/")))


def creation_records() -> tuple[Path, ...]:
    """Every creation record on this host, sorted."""
    folder = run_record_path("x").parent
    return tuple(sorted(folder.glob(f"*{SUFFIX}"))) if folder.is_dir() else ()


def run_id_of(record: Path) -> str:
    return record.name.removesuffix(SUFFIX)


def forget_if_clean(run_id: str) -> None:
    """Delete the creation record of ``run_id`` when nothing it lists exists any more."""
    record = creation_record_path(run_id)
    if not any(os.path.lexists(p) for p in created_paths(record)):
        with contextlib.suppress(OSError):
            record.unlink()
