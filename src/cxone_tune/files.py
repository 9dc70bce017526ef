"""The one rule for every file and directory the tool reads or writes (token cache, state directory, metrics).

- A directory is owned by the user running the tool (or by root, who can do anything as that user anyway: a
  node_exporter textfile directory, say) and not writable by group or others. A symbolic link to a directory
  is followed only when the link itself belongs to that user or to root (systemd's ``DynamicUser=`` links
  ``/var/lib/<name>`` to ``/var/lib/private/<name>``), and the directory it leads to obeys the rule.
- A file is opened with ``O_NOFOLLOW``: a symbolic link in its place is refused, never followed, so a planted
  link can never make a run truncate or append to its target. It must be a regular file owned by the user and
  not writable by group or others (a private file, the token cache: not readable by them either), with no other
  name: a hard link is another name for the same file, which ``O_NOFOLLOW`` does not see.
- A file the tool only reads and an administrator may provide (the TOML config file, the CA bundle) follows the
  rule of directories instead (:func:`read_trusted`): it may be root's, and a symbolic link to it is followed
  when the link is the user's or root's (a Kubernetes ConfigMap is a tree of root's links).
- New directories are created 0700, new files 0600 (the metrics textfile 0644: node_exporter must read it).
- A violation is an :class:`UnsafePath` (a ConfigError, exit 78) naming the path and the setting that chose it.

Once a directory passes, only its owner (or root) can add, rename or replace entries in it, so the names
inside it keep meaning what was checked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path

from cxone_tune.errors import ConfigError

_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO in a file's place never blocks
_SHARED = 0o022  # writable by group or others
_PRIVATE = 0o077  # any access by group or others


class UnsafePath(ConfigError):
    """A file or directory that breaks the rule: a link, another owner, writable by others."""


def _problem(info: os.stat_result, private: bool = False, *, root_ok: bool = False) -> str | None:
    uid = os.getuid()
    if info.st_uid != uid and not (root_ok and info.st_uid == 0):
        return f"is owned by uid {info.st_uid}, not by the user running cxone-tune (uid {uid})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & (_PRIVATE if private else _SHARED):
        return f"is {'accessible' if private else 'writable'} by group or others (mode {mode:04o})"
    return None


def _refuse(variable: str, path: Path, problem: str) -> UnsafePath:
    return UnsafePath(f"{variable}: {path} {problem}; refusing to use it")


def check_dir(path: Path, variable: str) -> Path:
    """``path`` if it is a directory that obeys the rule; UnsafePath or ConfigError otherwise."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid not in (os.getuid(), 0):
                raise _refuse(variable, path, f"is a symbolic link owned by uid {info.st_uid}")
            info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{variable}: {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot inspect {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{variable}: {path} is not a directory")
    problem = _problem(info, root_ok=True)
    if problem:
        raise _refuse(variable, path, problem)
    return path


def ensure_dir(path: Path, variable: str) -> Path:
    """The directory ``path``, created 0700 if missing (and so is every missing parent), checked against the
    rule, writable by us."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # another run made it meanwhile; it is checked below like any other
        except OSError as exc:
            raise ConfigError(f"{variable}: cannot create {directory}: {exc.strerror}") from None
    check_dir(path, variable)
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{variable}: {path} is not writable")
    return path


def check_file(path: Path, variable: str, *, private: bool = False) -> None:
    """Refuse an existing ``path`` that is a link, not a regular file, or breaks the owner/mode rule.
    A missing file is fine: it will be created under the rule."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot inspect {path}: {exc.strerror}") from None
    _check_info(info, path, variable, private)


def _check_info(info: os.stat_result, path: Path, variable: str, private: bool) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(variable, path, "is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(variable, path, "is not a regular file")
    if info.st_nlink > 1:  # written in place (the lock, the audit log), it would change every other name too
        raise _refuse(variable, path, f"has {info.st_nlink} hard links (other names for the same file)")
    problem = _problem(info, private)
    if problem:
        raise _refuse(variable, path, problem)


def read_trusted(path: Path, variable: str) -> bytes:
    """The whole of a file the tool only reads and an administrator may provide (the config file, the CA
    bundle): a regular file owned by the user or root and not writable by group or others, reached through a
    symbolic link only when the link is the user's or root's; read from the descriptor it checked.
    FileNotFoundError passes through; a broken rule is UnsafePath; any other failure a ConfigError."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in (os.getuid(), 0):
            raise _refuse(variable, path, f"is a symbolic link owned by uid {info.st_uid}")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot open {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(variable, path, "is not a regular file")
        problem = _problem(info, root_ok=True)
        if problem:
            raise _refuse(variable, path, problem)
        return read_fd(fd, path, variable)
    finally:
        os.close(fd)


def check_credentials(directory: Path, names: Collection[str], variable: str = "CREDENTIALS_DIRECTORY") -> None:
    """systemd's (or a Kubernetes secret volume's) credentials directory, from which pydantic-settings reads any
    setting, not only the secrets: every entry named like one of ``names`` (case-insensitively, as it matches
    them) obeys the rule of :func:`read_trusted`. The directory is the user's or root's, and writable by group or
    others only with the sticky bit (a secret volume is a read-only 1777 tmpfs), so no one else can replace an
    entry once checked; one they add is checked like the rest."""
    try:
        info = os.lstat(directory)
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid not in (os.getuid(), 0):
                raise _refuse(variable, directory, f"is a symbolic link owned by uid {info.st_uid}")
            info = os.stat(directory)
        entries = [Path(entry.path) for entry in os.scandir(directory) if entry.name.upper() in names]
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {directory}: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (os.getuid(), 0):
        raise _refuse(variable, directory, _problem(info) or f"is owned by uid {info.st_uid}")
    if mode & _SHARED and not mode & stat.S_ISVTX:
        raise _refuse(variable, directory, f"is writable by group or others (mode {mode:04o}) without the sticky bit")
    for path in entries:
        read_trusted(path, variable)


def open_file(path: Path, flags: int, variable: str, *, mode: int = 0o600, private: bool = False) -> int:
    """``os.open`` under the rule: never through a link; the opened file checked with fstat.

    FileNotFoundError passes through (no ``O_CREAT``); a broken rule is UnsafePath; any other failure a
    ConfigError naming the path and ``variable``.
    """
    try:
        fd = os.open(path, flags | _OPEN_FLAGS, mode)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise _refuse(variable, path, "is a symbolic link") from None
        raise ConfigError(f"{variable}: cannot open {path}: {exc.strerror}") from None
    try:
        _check_info(os.fstat(fd), path, variable, private)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, variable: str, *, private: bool = False) -> bytes:
    """The whole file, read under the rule (FileNotFoundError when there is none)."""
    fd = open_file(path, os.O_RDONLY, variable, private=private)
    try:
        return read_fd(fd, path, variable)
    finally:
        os.close(fd)


def read_fd(fd: int, path: Path, variable: str) -> bytes:
    """The rest of an open file (from ``open_file``); a failure is a ConfigError naming ``path``."""
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, variable: str = "path") -> None:
    """Write to a new temporary file (O_EXCL, 0600) in the same checked directory and rename it over ``path``:
    readers see the old content or the new, never half of it, even if the process is killed in between. A
    rename replaces a link planted at ``path`` instead of writing through it."""
    check_dir(path.parent, variable)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
