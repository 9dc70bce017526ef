"""The audit log: one JSON line per decision in the state directory, appended atomically, rotated by size."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxone_tune.files import ensure_dir

AUDIT_NAME = "audit.jsonl"
MAX_BYTES = 5 * 1024 * 1024
KEEP = 3  # audit.jsonl.1 .. audit.jsonl.3


def audit_path(state_dir: Path) -> Path:
    return state_dir / AUDIT_NAME


def append(state_dir: Path, record: Mapping[str, Any], max_bytes: int = MAX_BYTES) -> Path:
    """Append one line. The caller holds the run lock, so rotation cannot race another writer."""
    path = audit_path(ensure_dir(state_dir, "CXONE_STATE_DIR"))
    line = (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode()
    try:
        if path.stat().st_size + len(line) > max_bytes:
            _rotate(path)
    except FileNotFoundError:
        pass
    # O_APPEND and one write(): the line lands whole at the end, never interleaved or half-written.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return path


def _rotate(path: Path) -> None:
    for index in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{index + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def read(state_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` records, oldest first, across the rotated files; unreadable lines are skipped."""
    path = audit_path(state_dir)
    files = [path.with_name(f"{path.name}.{i}") for i in range(KEEP, 0, -1)] + [path]
    records: list[dict[str, Any]] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # e.g. a line cut short by a full disk
            if isinstance(record, dict):
                records.append(record)
    return records[-limit:] if limit else records
