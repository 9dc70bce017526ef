"""The audit log: one JSON line per decision in the state directory, appended atomically, rotated by size.

Every file is opened under the rule of ``files.py`` (never through a link, owner and mode checked).
"""

from __future__ import annotations

import json
import logging
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
    # O_APPEND and one write(): the line lands whole at the end, never interleaved or half-written.
    fd = open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, VARIABLE)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # the last line was cut short (a full disk, a kill): start a line of our own
        os.write(fd, line)
    finally:
        os.close(fd)
    return path


def _rotate(path: Path) -> None:
    # Renames move directory entries (a link is moved, never followed).
    for index in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if os.path.lexists(older):
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


@dataclass
class AuditLog:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # lines that are not UTF-8, not JSON, or not a JSON object


def read_log(state_dir: Path) -> AuditLog:
    """Every record, oldest first, across the rotated files. A line that cannot be read (bad bytes, cut short
    by a full disk or a kill) is skipped and counted; one warning line says how many."""
    result = AuditLog()
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
                record = json.loads(line.decode("utf-8"))
            except ValueError:  # UnicodeDecodeError is one
                record = None
            if isinstance(record, dict):
                result.records.append(record)
            else:
                result.skipped += 1
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
