"""The systemd units shipped in the package, written for this installation (``cxone-tune print-unit``).

The unit files live once, in ``cxone_tune/systemd/`` (package data), so a wheel install has them too. They
start ``/usr/local/bin/cxone-tune`` as shipped; :func:`unit_text` replaces that with the command that is
running now, so the printed units start the installation that printed them.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
from importlib.resources import files
from pathlib import Path

from cxone_tune.errors import UsageError
from cxone_tune.files import write_atomic

log = logging.getLogger(__name__)

# What a user types -> the file name systemd knows it by.
UNITS = {
    "service": "cxone-tune.service",
    "timer": "cxone-tune.timer",
    "failure": "cxone-tune-failure@.service",
}
SHIPPED_EXECUTABLE = "/usr/local/bin/cxone-tune"
_EXEC_START = re.compile(rf"^ExecStart={re.escape(SHIPPED_EXECUTABLE)}(?= )", re.MULTILINE)
# Directories the service's ProtectHome=yes hides.
HIDDEN_BY_PROTECT_HOME = (Path("/home"), Path("/root"), Path("/run/user"))


def shipped_text(kind: str) -> str:
    """A unit file exactly as the package ships it."""
    return (files("cxone_tune") / "systemd" / UNITS[kind]).read_text(encoding="utf-8")


def running_command(argv0: str | None = None) -> list[str]:
    """The command that starts this installation of cxone-tune, as absolute paths.

    The console script that is running (``sys.argv[0]``), else the one installed beside this interpreter,
    else ``python -m cxone_tune`` with this interpreter. The script path is resolved (a pipx or uv symlink
    in a bin directory leads to the environment it belongs to); the interpreter's is not, since a venv's
    python is a symlink to the base interpreter and resolving it would leave the venv.
    """
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name == "cxone-tune" and script.is_file():
        return [str(script.resolve())]
    beside = shutil.which("cxone-tune", path=str(Path(sys.executable).parent))
    if beside is not None:
        return [str(Path(beside).resolve())]
    return [str(Path(sys.executable).absolute()), "-m", "cxone_tune"]


def _quote(argument: str) -> str:
    """One ExecStart= word: systemd expands % specifiers and $ variables, and splits on whitespace."""
    escaped = argument.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_./+:@=,%$-]+", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(kind: str, command: list[str]) -> str:
    """The shipped unit, its ExecStart= starting ``command`` (only the service has one of ours)."""
    text = shipped_text(kind)
    if kind != "service":
        return text
    replacement = "ExecStart=" + " ".join(_quote(word) for word in command)
    text, count = _EXEC_START.subn(lambda _match: replacement, text)
    if count != 1:  # the shipped file and this module disagree: a packaging bug, not a user error
        raise RuntimeError(f"{UNITS[kind]}: expected one ExecStart={SHIPPED_EXECUTABLE} line, found {count}")
    return text


def hidden_from_the_service(command: list[str]) -> Path | None:
    """The directory that hides ``command`` from the service (ProtectHome=yes), if it lives under one."""
    program = Path(command[0])
    for directory in HIDDEN_BY_PROTECT_HOME:
        if program.is_relative_to(directory):
            return directory
    return None


def warn_if_hidden(command: list[str]) -> None:
    hidden = hidden_from_the_service(command)
    if hidden is not None:
        log.warning(
            "%s is under %s, which the service's ProtectHome=yes hides: install cxone-tune system-wide "
            "(e.g. pipx install --global) or relax ProtectHome=",
            command[0],
            hidden,
        )


def selected(kind: str | None) -> list[str]:
    if kind is None:
        return list(UNITS)
    if kind not in UNITS:
        raise UsageError(f"print-unit: unknown unit {kind!r}; choose one of {', '.join(UNITS)}")
    return [kind]


def render(kinds: list[str], command: list[str]) -> str:
    """The units for stdout; several are separated by a comment line naming each file."""
    if len(kinds) == 1:
        return unit_text(kinds[0], command)
    return "\n".join(f"# ==> {UNITS[kind]} <==\n{unit_text(kind, command)}" for kind in kinds)


def write(kinds: list[str], command: list[str], directory: Path) -> list[Path]:
    """Write the units into ``directory`` (0644, replaced atomically, never through a symlink)."""
    if not directory.is_dir():
        raise UsageError(f"--dir: {directory} is not a directory")
    written = []
    for kind in kinds:
        path = directory / UNITS[kind]
        try:
            write_atomic(path, unit_text(kind, command).encode("utf-8"), mode=0o644, variable="--dir")
        except OSError as exc:
            raise UsageError(f"--dir: cannot write {path}: {exc.strerror}") from None
        written.append(path)
    return written
