"""Small file helpers shared by the token cache, the audit log and the metrics file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def ensure_dir(path: Path, variable: str) -> Path:
    """Create a private directory (0700) or fail with a ConfigError naming the setting."""
    from cxone_tune.errors import ConfigError

    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot create {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{variable}: {path} is not writable")
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write to a temporary file in the same directory and rename it over ``path``: readers see the old
    content or the new, never half of it, even if the process is killed in between."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
