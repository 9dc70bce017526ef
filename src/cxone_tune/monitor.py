"""Monitoring for a job nobody watches: a Prometheus textfile and healthcheck pings.

Both are optional. A failed ping only warns: monitoring must never change what the job did or its exit
code. The textfile is written to a temporary file and renamed, so node_exporter never reads half of it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from cxone_tune.files import write_atomic
from cxone_tune.http import USER_AGENT

log = logging.getLogger(__name__)

PREFIX = "cxone_tune_"
PING_TIMEOUT = 10.0


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


_HELP = {
    "last_run_timestamp_seconds": ("gauge", "When the last run started."),
    "last_success_timestamp_seconds": ("gauge", "When the last successful run started."),
    "last_exit_code": ("gauge", "Exit code of the last run (0 is success)."),
    "run_duration_seconds": ("gauge", "How long the last run took."),
    "total_agents": ("gauge", "Agents seen by the last run that read them."),
    "available_agents": ("gauge", "Agents counted as available by the last run that read them."),
    "limit": ("gauge", "The pacing value decided by the last run that decided one."),
    "changes_total": ("counter", "Writes of a new pacing value."),
}


def _previous(path: Path) -> dict[str, float]:
    """The values of the last textfile, so counters and last-success survive between processes."""
    values: dict[str, float] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return values
    for match in re.finditer(rf"^{PREFIX}(\w+)(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE):
        try:
            values[match.group(1)] = float(match.group(2))
        except ValueError:
            continue
    return values


def write_metrics(path: Path, run: RunMetrics) -> None:
    previous = _previous(path)
    values: dict[str, float | None] = {
        "last_run_timestamp_seconds": run.started,
        "last_success_timestamp_seconds": run.started
        if run.exit_code == 0
        else previous.get("last_success_timestamp_seconds"),
        "last_exit_code": float(run.exit_code),
        "run_duration_seconds": round(run.duration, 3),
        # Gauges of what was seen keep their last known value when a run failed before seeing anything.
        "total_agents": run.total_agents if run.total_agents is not None else previous.get("total_agents"),
        "available_agents": run.available_agents
        if run.available_agents is not None
        else previous.get("available_agents"),
        "limit": run.limit if run.limit is not None else previous.get("limit"),
        "changes_total": previous.get("changes_total", 0.0) + (1 if run.changed else 0),
    }
    labels = f'{{profile="{run.profile}",target="{_escape(run.target or "")}"}}'
    lines: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        kind, text = _HELP[name]
        lines += [f"# HELP {PREFIX}{name} {text}", f"# TYPE {PREFIX}{name} {kind}", f"{PREFIX}{name}{labels} {value:g}"]
    try:
        write_atomic(path, ("\n".join(lines) + "\n").encode(), mode=0o644)
    except OSError as exc:
        log.warning("cannot write the metrics file %s: %s", path, exc.strerror)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def ping(url: str | None, suffix: str, transport: httpx.BaseTransport | None = None) -> None:
    """Healthchecks-style ping: ``/start`` at the beginning, ``/<exit code>`` at the end."""
    if not url:
        return
    target = f"{url.rstrip('/')}/{suffix}"
    try:
        with httpx.Client(timeout=PING_TIMEOUT, headers={"User-Agent": USER_AGENT}, transport=transport) as client:
            response = client.post(target)
        if response.status_code >= 400:
            log.warning("healthcheck ping /%s answered %s", suffix, response.status_code)
    except httpx.HTTPError as exc:
        log.warning("healthcheck ping /%s failed: %s", suffix, type(exc).__name__)
