"""A mutating run as a scheduler sees it: lock, cycle, audit line, metrics, healthcheck pings.

``cycle.py`` decides and writes; this module makes sure every such run leaves a record, that two runs never
overlap, and that monitoring learns how it ended. Dry runs take no lock and send no pings, but are audited.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cxone_tune import audit, cycle, documents
from cxone_tune.errors import CxoneTuneError, TemporaryFailure, Terminated
from cxone_tune.lock import LockHeld, run_lock
from cxone_tune.policy import Value
from cxone_tune.profiles import Profile, Target, TargetRef
from cxone_tune.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T", cycle.CycleResult, cycle.ApplyResult)


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
    ref: TargetRef
    dry_run: bool
    started: float = field(default_factory=time.time)
    result: cycle.CycleResult | cycle.ApplyResult | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # shared by the run's intent lines

    def record(self, exit_code: int, error: str | None, duration: float) -> dict[str, Any]:
        return documents.audit_record(
            run_id=self.run_id,
            started=self.started,
            command=self.command,
            ref=self.ref,
            dry_run=self.dry_run,
            result=self.result,
            exit_code=exit_code,
            error=error,
            duration=duration,
        )


def recorded_run(job: cycle.Job, command: str, *, dry_run: bool, action: Callable[[Profile], T]) -> T:
    """Run ``action`` on a fresh profile of ``job`` under the run lock, and record how it went, whatever
    happened."""
    settings = job.settings
    clock = time.monotonic()
    # Created before anything can fail, so a run that dies on its configuration is recorded too.
    outcome = Outcome(command, job.target, dry_run)
    recorded = True  # every run leaves its line, but one that found the lock held: that run records its own
    if not dry_run:
        _ping(settings.healthcheck_url, "start")
    exit_code, error = 0, None
    try:
        lock = contextlib.nullcontext() if dry_run else run_lock(settings.resolved_state_dir())
        with lock, job.open() as profile:
            if not dry_run:
                profile.before_write.append(_intent_writer(settings, outcome))
            result = action(profile)
        outcome.result = result
        return result
    except BaseException as exc:
        exit_code = exit_code_of(exc)
        error = str(exc) if isinstance(exc, CxoneTuneError) else type(exc).__name__
        recorded = not isinstance(exc, LockHeld)
        raise
    finally:
        duration = time.monotonic() - clock
        if recorded:
            _finish(settings, outcome, exit_code, error, duration)
        if not dry_run:
            _ping(settings.healthcheck_url, str(exit_code))


def _ping(url: str | None, suffix: str) -> None:
    # Monitoring is optional: its module is imported only when a run has something to report to.
    if url:
        from cxone_tune import monitor

        monitor.ping(url, suffix)


def _intent_writer(settings: Settings, outcome: Outcome) -> Callable[[Target, Value], None]:
    """The hook that appends the run's intent line before each write; a write it cannot record is not sent."""

    def write_intent(target: Target, value: Value) -> None:
        record = documents.intent_record(
            now=time.time(),
            run_id=outcome.run_id,
            command=outcome.command,
            ref=outcome.ref,
            previous=target.value,
            limit=value,
        )
        try:
            audit.append(settings.resolved_state_dir(), record)
        except OSError as exc:
            raise TemporaryFailure(f"cannot append the intent line to the audit log ({exc}); nothing written") from exc

    return write_intent


def _finish(settings: Settings, outcome: Outcome, exit_code: int, error: str | None, duration: float) -> None:
    record = outcome.record(exit_code, error, duration)
    try:
        audit.append(settings.resolved_state_dir(), record)
    except (OSError, CxoneTuneError) as exc:
        log.warning("cannot append to the audit log: %s", exc)
    if settings.metrics_file is not None and not outcome.dry_run:
        from cxone_tune import monitor

        monitor.write_metrics(
            settings.metrics_file,
            monitor.RunMetrics(
                started=outcome.started,
                duration=duration,
                exit_code=exit_code,
                profile=outcome.ref.profile,
                target=outcome.ref.id,
                total_agents=record.get("total_agents"),
                available_agents=record.get("available_agents"),
                limit=record.get("limit"),
                changed=bool(record.get("applied")),
                abandon_rates=abandon_rates(record),
                abandon_readable=abandon_readable(record),
                pool_disagreement=pool_disagreement(outcome.result),
            ),
        )


def abandon_rates(record: dict[str, Any]) -> tuple[tuple[str, float | None], ...]:
    """The abandon guard's rate per window, from a run's audit record (none when the guard did not read)."""
    guard = record.get("guard")
    windows = guard.get("windows") if isinstance(guard, dict) else None
    if not isinstance(windows, dict):
        return ()
    return tuple(
        (name, window.get("rate") if isinstance(window, dict) else None) for name, window in sorted(windows.items())
    )


def abandon_readable(record: dict[str, Any]) -> tuple[tuple[str, bool], ...]:
    """Whether the run could read each of the abandon guard's windows (none when the guard did not read)."""
    guard = record.get("guard")
    windows = guard.get("windows") if isinstance(guard, dict) else None
    if not isinstance(windows, dict):
        return ()
    return tuple(
        (name, isinstance(window, dict) and window.get("error") is None) for name, window in sorted(windows.items())
    )


def pool_disagreement(result: cycle.CycleResult | cycle.ApplyResult | None) -> bool | None:
    """Whether the run found the skill's activity apart from its pool; None when it did not compare them."""
    pool = result.compute.pool if isinstance(result, cycle.CycleResult) else None
    if pool is None or not pool.compared:
        return None
    return pool.disagreement is not None
