"""A mutating run as a scheduler sees it: lock, cycle, audit line, metrics, healthcheck pings.

``cycle.py`` decides and writes; this module makes sure every such run leaves a record, that two runs never
overlap, and that monitoring learns how it ended. Dry runs take no lock and send no pings, but are audited.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx

from cxone_tune import audit, cycle, monitor
from cxone_tune.errors import CxoneTuneError
from cxone_tune.lock import LockHeld, run_lock
from cxone_tune.profiles import Profile
from cxone_tune.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T", cycle.CycleResult, cycle.ApplyResult)


class Terminated(BaseException):
    """SIGTERM arrived: end the run now (exit 143), cleanly."""

    exit_code = 143


def exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, CxoneTuneError):
        return exc.exit_code
    if isinstance(exc, Terminated):
        return Terminated.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 70


@dataclass
class Outcome:
    """What the audit line and the metrics say about one run."""

    command: str
    profile: str
    target: str
    dry_run: bool
    started: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)

    def record(self, exit_code: int, error: str | None, duration: float) -> dict[str, Any]:
        return {
            "time": datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds"),
            "command": self.command,
            "profile": self.profile,
            "target": self.target,
            "dry_run": self.dry_run,
            **self.fields,
            "exit_code": exit_code,
            "error": error,
            "duration_seconds": round(duration, 3),
        }


def _fields(result: cycle.CycleResult | cycle.ApplyResult) -> dict[str, Any]:
    if isinstance(result, cycle.CycleResult):
        document = result.to_json()
        document["counts"] = result.compute.snapshot.counts
        document.pop("target", None)
        document.pop("dry_run", None)
        document.pop("profile", None)
        return document
    return {
        "previous_limit": result.previous,
        "limit": result.limit,
        "changed": result.changed,
        "applied": result.applied,
        "version": result.version,
        "conflicts": result.conflicts,
        "rule": "set by hand (apply)",
    }


def recorded_run(
    settings: Settings,
    command: str,
    *,
    dry_run: bool,
    action: Callable[[Profile], T],
    transport: httpx.BaseTransport | None = None,
) -> T:
    """Run ``action`` on a fresh profile under the run lock, and record how it went, whatever happened."""
    state_dir = settings.resolved_state_dir()
    clock = time.monotonic()
    # Created before anything can fail, so a run that dies on its configuration is recorded too.
    outcome: Outcome | None = Outcome(command, settings.api_name, _target(settings), dry_run)
    if not dry_run:
        monitor.ping(settings.healthcheck_url, "start")
    exit_code, error = 0, None
    try:
        lock = contextlib.nullcontext() if dry_run else run_lock(state_dir)
        with lock, cycle.open_profile(settings, transport) as profile:
            result = action(profile)
        assert outcome is not None
        outcome.fields = _fields(result)
        return result
    except BaseException as exc:
        exit_code = exit_code_of(exc)
        error = str(exc) if isinstance(exc, CxoneTuneError) else type(exc).__name__
        if isinstance(exc, LockHeld):
            outcome = None  # the run holding the lock records its own story
        raise
    finally:
        duration = time.monotonic() - clock
        if outcome is not None:
            _finish(settings, outcome, exit_code, error, duration)
        if not dry_run:
            monitor.ping(settings.healthcheck_url, str(exit_code))


def _target(settings: Settings) -> str:
    if settings.api_name == "v2":
        return settings.campaign_id or ""
    return str(settings.skill_id or "")


def _finish(settings: Settings, outcome: Outcome, exit_code: int, error: str | None, duration: float) -> None:
    try:
        audit.append(settings.resolved_state_dir(), outcome.record(exit_code, error, duration))
    except (OSError, CxoneTuneError) as exc:
        log.warning("cannot append to the audit log: %s", exc)
    if settings.metrics_file is not None and not outcome.dry_run:
        fields = outcome.fields
        monitor.write_metrics(
            settings.metrics_file,
            monitor.RunMetrics(
                started=outcome.started,
                duration=duration,
                exit_code=exit_code,
                profile=outcome.profile,
                target=outcome.target,
                total_agents=fields.get("total_agents"),
                available_agents=fields.get("available_agents"),
                limit=fields.get("limit"),
                changed=bool(fields.get("applied")),
            ),
        )
