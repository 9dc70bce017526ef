"""Monitoring for a job nobody watches: a Prometheus textfile and healthcheck pings.

Both are optional. A failed ping only warns: monitoring must never change what the job did or its exit
code. The textfile is written to a temporary file and renamed, so node_exporter never reads half of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from cxone_tune.errors import ConfigError, CxoneTuneError
from cxone_tune.files import check_dir, check_file, open_file, read_bytes, write_atomic
from cxone_tune.http import USER_AGENT

log = logging.getLogger(__name__)

PREFIX = "cxone_tune_"
PING_TIMEOUT = 10.0
VARIABLE = "CXONE_METRICS_FILE"


@dataclass(frozen=True)
class RunMetrics:
    started: float  # epoch seconds
    duration: float
    exit_code: int
    profile: str
    target: str | None
    total_agents: int | None = None
    available_agents: int | None = None
    limit: float | None = None
    changed: bool = False  # a write succeeded
    # The abandon guard's windows: (window, abandons / live calls), None when the run has no rate for it.
    abandon_rates: tuple[tuple[str, float | None], ...] = ()
    # (window, whether the run could read its figures): one that could not holds every raise (a 403 every run).
    abandon_readable: tuple[tuple[str, bool], ...] = ()
    # The skill's activity against its pool: whether they differed beyond CXONE_POOL_MARGIN (None: not compared).
    pool_disagreement: bool | None = None


_HELP = {
    "last_run_timestamp_seconds": ("gauge", "When the last run started."),
    "last_success_timestamp_seconds": ("gauge", "When the last successful run started."),
    "last_exit_code": ("gauge", "Exit code of the last run (0 is success)."),
    "run_duration_seconds": ("gauge", "How long the last run took."),
    "total_agents": ("gauge", "Agents seen by the last run that read them."),
    "available_agents": ("gauge", "Agents counted as available by the last run that read them."),
    "limit": ("gauge", "The pacing value decided by the last run that decided one."),
    "changes_total": ("counter", "Writes of a new pacing value."),
    "abandon_rate_ratio": (
        "gauge",
        "Abandoned share of the live calls in the abandon guard's window (short or compliance), as last read.",
    ),
    "abandon_figures_readable": (
        "gauge",
        "1 when the last run read the abandon guard's window, 0 when it could not (every raise is then held).",
    ),
    "pool_disagreement": (
        "gauge",
        "1 when the skill's activity and its assigned agents differed by more than CXONE_POOL_MARGIN, else 0.",
    ),
}


Labels = tuple[tuple[str, str], ...]
_SERIES = re.compile(rf"^{PREFIX}(\w+)\{{(.*)\}} (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)",?')
LOCK_WAIT = 5.0  # seconds a writer waits for another one to finish with the file (each takes milliseconds)


def _read_series(path: Path) -> dict[Labels, dict[str, float]]:
    """Every series in the textfile, by label set: this target's to carry counters and last-success over
    between processes, the other targets' to keep them. A missing file is none; a link or a foreign file is
    UnsafePath; any other failure to read it a ConfigError: the caller warns and writes nothing."""
    try:
        data = read_bytes(path, VARIABLE)
    except FileNotFoundError:
        return {}
    series: dict[Labels, dict[str, float]] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        match = _SERIES.match(line)
        if match is None or match.group(1) not in _HELP:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        labels = tuple((key, _unescape(raw)) for key, raw in _LABEL.findall(match.group(2)))
        series.setdefault(labels, {})[match.group(1)] = value
    return series


def _values(run: RunMetrics, previous: dict[str, float]) -> dict[str, float]:
    values: dict[str, float | None] = {
        "last_run_timestamp_seconds": run.started,
        "last_success_timestamp_seconds": run.started
        if run.exit_code == 0
        else previous.get("last_success_timestamp_seconds"),
        "last_exit_code": float(run.exit_code),
        "run_duration_seconds": run.duration,
        # Gauges of what was seen keep their last known value when a run failed before seeing anything.
        "total_agents": run.total_agents if run.total_agents is not None else previous.get("total_agents"),
        "available_agents": run.available_agents
        if run.available_agents is not None
        else previous.get("available_agents"),
        "limit": run.limit if run.limit is not None else previous.get("limit"),
        "changes_total": previous.get("changes_total", 0.0) + (1 if run.changed else 0),
        "pool_disagreement": previous.get("pool_disagreement")
        if run.pool_disagreement is None
        else run.pool_disagreement,
    }
    return {name: float(value) for name, value in values.items() if value is not None}


def render(series: dict[Labels, dict[str, float]]) -> str:
    """The textfile: each family once (HELP, TYPE, then one sample per target), values at full precision."""
    lines: list[str] = []
    for name, (kind, text) in _HELP.items():
        samples = [(labels, values[name]) for labels, values in sorted(series.items()) if name in values]
        if not samples:
            continue
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} {kind}"]
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape(label)}"' for key, label in labels)
            lines.append(f"{PREFIX}{name}{{{rendered}}} {format_value(value)}")
    return "\n".join(lines) + "\n"


def format_value(value: float) -> str:
    """Exact: integers as integers, other floats as the shortest text that reads back as the same float."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def write_metrics(path: Path, run: RunMetrics) -> None:
    """Update this target's series in the textfile, keeping every other target's. Writers of the same file
    (the targets of one run, overlapping runs) take turns on a lock file beside it (``<name>.lock``, which
    node_exporter ignores: it reads ``*.prom``). Any failure is one warning: monitoring never changes what
    the run did or its exit code."""
    labels: Labels = (("profile", run.profile), ("target", run.target or ""))
    try:
        with _locked(path):
            series = _read_series(path)
            series[labels] = _values(run, series.get(labels, {}))
            readable = dict(run.abandon_readable)
            for window, rate in run.abandon_rates:
                windowed = series.setdefault((*labels, ("window", window)), {})
                if rate is not None:  # else the last known rate stays, like the other gauges of what was seen
                    windowed["abandon_rate_ratio"] = rate
                if window in readable:
                    windowed["abandon_figures_readable"] = float(readable[window])
            # 0644: node_exporter (another user) must read it; only we may write it.
            write_atomic(path, render(series).encode(), mode=0o644, variable=VARIABLE)
    except (OSError, CxoneTuneError) as exc:
        log.warning("cannot write the metrics file %s: %s", path, getattr(exc, "strerror", None) or exc)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(f"{path.name}.lock")
    fd = open_file(lock, os.O_RDWR | os.O_CREAT, VARIABLE)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ConfigError(f"{VARIABLE}: {lock} is held by another writer; not written") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)


_SIGNATURE = f"# HELP {PREFIX}".encode()  # how every textfile :func:`render` writes begins


def check_metrics_path(path: Path) -> Path:
    """For the setting's validator: refuse, before a run starts, a textfile that breaks the rule of
    ``files.py`` (a link, another owner, writable by others) or lies in a directory that does, and a file that
    is not a cxone-tune textfile (nor empty): each run replaces the textfile whole, so a typo naming ~/.bashrc
    would lose it. A directory that is missing or unwritable is not refused: writing then fails with a warning,
    like any other I/O."""
    if os.path.isdir(path.parent) or os.path.islink(path.parent):
        check_dir(path.parent, VARIABLE)
    for candidate in (path, path.with_name(f"{path.name}.lock")):
        if os.path.islink(candidate) or os.path.isfile(candidate):
            check_file(candidate, VARIABLE)
    if os.path.isfile(path):
        fd = open_file(path, os.O_RDONLY, VARIABLE)
        try:
            head = os.read(fd, len(_SIGNATURE))
        finally:
            os.close(fd)
        if head not in (b"", _SIGNATURE):
            raise ConfigError(
                f"{VARIABLE}: {path} is not a cxone-tune textfile (it does not begin with "
                f"'{_SIGNATURE.decode()}'); refusing to overwrite it"
            )
    return path


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def ping(url: str | None, suffix: str, transport: httpx.BaseTransport | None = None) -> None:
    """Healthchecks-style ping: ``/start`` at the beginning, ``/<exit code>`` at the end."""
    if not url:
        return
    target = f"{url.rstrip('/')}/{suffix}"
    if transport is None:
        # PING_TIMEOUT bounds the whole exchange, head included, not each read (see transport.py)
        from cxone_tune.transport import DeadlineTransport

        deadline = time.monotonic() + PING_TIMEOUT
        transport = DeadlineTransport(lambda: deadline)
    try:
        with httpx.Client(timeout=PING_TIMEOUT, headers={"User-Agent": USER_AGENT}, transport=transport) as client:
            response = client.post(target)
        if response.status_code >= 400:
            log.warning("healthcheck ping /%s answered %s", suffix, response.status_code)
    except httpx.HTTPError as exc:
        log.warning("healthcheck ping /%s failed: %s", suffix, type(exc).__name__)
