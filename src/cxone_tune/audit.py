"""The audit log: one JSON line per decision in the state directory, appended atomically, rotated by size.

Every file is opened under the rule of ``files.py`` (never through a link, owner and mode checked). Each line is
on disk (``fsync``) before :func:`append` returns, and the directory too when the append created the file, so
a crash or a kill -9 right after cannot lose it.

A run that writes leaves two lines with the same ``run_id``: an *intent* (``"phase": "intent"``: the target,
the value in force and the value about to be written), appended before the write is sent, and the completed
record after it (as ever). :func:`read_log` folds an intent into its completed record; an intent with none (the
run was killed between the two, or is still running) is read as a record of its own with ``"outcome":
"unknown"``: a write was attempted, whether it landed is not known.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxone_tune.files import check_dir, open_file, read_bytes

log = logging.getLogger(__name__)

AUDIT_NAME = "audit.jsonl"
MAX_BYTES = 5 * 1024 * 1024
KEEP = 3  # audit.jsonl.1 .. audit.jsonl.3
VARIABLE = "CXONE_STATE_DIR"
INTENT = "intent"  # the "phase" of the line appended before a write
UNKNOWN = "unknown"  # the "outcome" of an intent that no completed record followed


def audit_path(state_dir: Path) -> Path:
    return state_dir / AUDIT_NAME


def files(state_dir: Path) -> list[Path]:
    """The log and its rotations, oldest first."""
    path = audit_path(state_dir)
    return [path.with_name(f"{path.name}.{i}") for i in range(KEEP, 0, -1)] + [path]


def append(state_dir: Path, record: Mapping[str, Any], max_bytes: int = MAX_BYTES) -> Path:
    """Append one line. The caller holds the run lock, so rotation cannot race another writer. Nothing is
    written in a state directory that breaks the rule (a run refused for it is not recorded there either)."""
    from cxone_tune.lock import check_state_dir  # lock.py imports this module

    path = audit_path(check_state_dir(state_dir))
    line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size + len(line) > max_bytes:
            _rotate(path)
    except FileNotFoundError:
        pass
    created = not os.path.lexists(path)
    # O_APPEND and one write(): the line lands whole at the end, never interleaved or half-written.
    fd = open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, VARIABLE)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # the last line was cut short (a full disk, a kill): start a line of our own
        written = os.write(fd, line)
        if written != len(line):  # a full disk or a file size limit: the line is cut short, say so
            raise OSError(f"{path}: wrote {written} of {len(line)} bytes (disk full or file too large)")
        os.fsync(fd)  # on disk before the caller goes on (an intent line: before the write is sent)
    finally:
        os.close(fd)
    if created:  # the new file's directory entry, too
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def _rotate(path: Path) -> None:
    # Renames move directory entries (a link is moved, never followed).
    for index in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if os.path.lexists(older):
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def _not_json(name: str) -> Any:
    # Python's json reads NaN and Infinity; no JSON document holds them (history --json must stay one)
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as inf
        raise ValueError(f"{text} is out of range")
    return value


@dataclass
class AuditLog:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # lines that are not UTF-8, not JSON, or not a JSON object
    unknown: int = 0  # intents no completed record followed (in records, with "outcome": "unknown")


def read_log(state_dir: Path) -> AuditLog:
    """Every record, oldest first, across the rotated files. A line that cannot be read (bad bytes, cut short
    by a full disk or a kill) is skipped and counted; one warning line says how many. Intent lines are folded
    into the completed record of their run; one without a completed record is kept, ``"outcome": "unknown"``."""
    result = AuditLog()
    intents: dict[str, int] = {}  # run_id -> index in result.records of its (so far) unanswered intent
    if os.path.lexists(state_dir):
        check_dir(state_dir, VARIABLE)
    for file in files(state_dir):
        try:
            data = read_bytes(file, VARIABLE)
        except FileNotFoundError:
            continue
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"), parse_constant=_not_json, parse_float=_finite)
            except ValueError:  # UnicodeDecodeError is one
                record = None
            if not isinstance(record, dict):
                result.skipped += 1
                continue
            run_id = record.get("run_id")
            if record.get("phase") == INTENT:
                if isinstance(run_id, str) and run_id in intents:
                    continue  # a retry of the same run's write (after a conflict): one attempt is enough
                if isinstance(run_id, str):
                    intents[run_id] = len(result.records)
                result.records.append({**record, "outcome": UNKNOWN})
            elif isinstance(run_id, str) and run_id in intents:
                result.records[intents.pop(run_id)] = record  # answered: the completed record takes its place
            else:
                result.records.append(record)
    result.unknown = len(intents)
    if result.skipped:
        log.warning(
            "%s: skipped %d unreadable line%s (not UTF-8 JSON)",
            audit_path(state_dir),
            result.skipped,
            "" if result.skipped == 1 else "s",
        )
    return result


def read(state_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` records, oldest first, across the rotated files; unreadable lines are skipped."""
    records = read_log(state_dir).records
    return records[-limit:] if limit else records
