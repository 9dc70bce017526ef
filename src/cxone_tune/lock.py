"""One mutating run at a time: a non-blocking fcntl lock in the state directory.

An fcntl lock belongs to the process that holds it and is released by the kernel when that process dies,
however it dies, so a run killed mid-way never leaves a stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cxone_tune.errors import TemporaryFailure
from cxone_tune.files import ensure_dir

LOCK_NAME = "cxone-tune.lock"


class LockHeld(TemporaryFailure):
    pass


@contextmanager
def run_lock(state_dir: Path) -> Iterator[Path]:
    path = ensure_dir(state_dir, "CXONE_STATE_DIR") / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
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
