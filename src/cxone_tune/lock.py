"""One mutating run at a time: a non-blocking fcntl lock in the state directory.

An fcntl lock belongs to the process that holds it and is released by the kernel when that process dies,
however it dies, so a run killed mid-way never leaves a stale lock behind.

Taking the lock is also where a run first meets its state directory, before it talks to the API: the
directory and every file the run will touch there (the lock, the audit log and its rotations, the decision
memory) are checked against the rule of ``files.py`` here, so a planted link or a directory others can write
ends the run with exit 78 before anything is read or written.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cxone_tune import audit, memory
from cxone_tune.errors import TemporaryFailure
from cxone_tune.files import check_file, ensure_dir, open_file

LOCK_NAME = "cxone-tune.lock"
VARIABLE = "CXONE_STATE_DIR"


class LockHeld(TemporaryFailure):
    pass


def check_state_dir(state_dir: Path) -> Path:
    """Create (0700) and check the state directory and the files a run writes in it."""
    directory = ensure_dir(state_dir, VARIABLE)
    for path in (directory / LOCK_NAME, *audit.files(directory), *memory.files(directory)):
        check_file(path, VARIABLE)
    return directory


@contextmanager
def run_lock(state_dir: Path) -> Iterator[Path]:
    path = check_state_dir(state_dir) / LOCK_NAME
    fd = open_file(path, os.O_RDWR | os.O_CREAT, VARIABLE)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise LockHeld(f"another cxone-tune run holds the lock {path}; nothing done") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
