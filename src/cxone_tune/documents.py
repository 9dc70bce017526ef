"""Every JSON document the tool prints and every audit record it writes, in one place.

The keys are a contract (``cli-contract.md``): add freely, never rename or drop. Where two documents describe
the same thing they are built by the same function: ``compute --json`` and ``run-once --json`` share
:func:`decision_fields`, and an audit record carries the document of the run it records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from cxone_tune.audit import INTENT
from cxone_tune.cycle import ApplyResult, ComputeResult, CycleResult
from cxone_tune.policy import Value
from cxone_tune.pool import PoolReport
from cxone_tune.profiles import Agent, AgentSnapshot, LoginInfo, TargetRef
from cxone_tune.settings import ENV_PREFIX, Settings

if TYPE_CHECKING:  # replay and watch pull in rich; a document only reads their results
    from cxone_tune.replay import GuardFacts, PolicyRun, Replay
    from cxone_tune.watch import Refresh


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def target_fields(ref: TargetRef) -> dict[str, Any]:
    return {"profile": ref.profile, "target": ref.id, "target_kind": ref.kind, "field": ref.field}


def decision_fields(result: ComputeResult, previous: Value | None, limit: Value) -> dict[str, Any]:
    """What was seen and decided, with the value in force before (``previous_limit``) and the one chosen."""
    decision, snapshot, evaluation, counted = result.decision, result.snapshot, result.evaluation, result.counted
    return {
        **target_fields(result.ref),
        "total_agents": decision.total,
        "available_agents": decision.available,
        "busy_agents": counted.busy,
        "acw_agents": counted.acw,
        # total/available/busy/acw come from one source; "counts" (per state) are always of the agents read
        "counted_by": result.counted_by,
        "counts_of": "tenant" if result.counted_by == "tenant" else "assigned",
        "counts": snapshot.counts,
        "previous_limit": previous,
        "raw_limit": decision.raw,
        "limit": limit,
        "held": evaluation.held,
        "rule": decision.rule,
        "reasons": list(decision.reasons),
        "steps": [
            {"rule": s.rule, "before": s.before, "after": s.after, "fired": s.fired, "note": s.note}
            for s in evaluation.steps
        ],
        "pool": None if result.pool is None else result.pool.document(),
        "guard": None if result.guard is None else result.guard.document(evaluation.guard),
    }


def compute_document(result: ComputeResult) -> dict[str, Any]:
    in_force = result.target.value if result.target else None
    # "current" is the README's older name for previous_limit, kept for scripts that read it.
    return {**decision_fields(result, in_force, result.decision.limit), "current": in_force}


def _write_fields(result: ApplyResult) -> dict[str, Any]:
    return {
        "changed": result.changed,
        "applied": result.applied,
        "dry_run": result.dry_run,
        "version": result.version,
        "conflicts": result.conflicts,
    }


def run_once_document(result: CycleResult) -> dict[str, Any]:
    applied = result.apply
    return {
        **decision_fields(result.compute, applied.previous, applied.limit),
        **_write_fields(applied),
        "requests": result.requests,
    }


def apply_document(result: ApplyResult) -> dict[str, Any]:
    return {
        **target_fields(result.ref),
        "previous_limit": result.previous,
        "limit": result.limit,
        **_write_fields(result),
        "guard_overridden": result.overridden,  # apply --force over the abandon guard: what it allowed and why
    }


def login_document(info: LoginInfo) -> dict[str, Any]:
    return {
        "profile": info.profile,
        "token_source": info.source,
        "expires_in": int(info.expires_in),
        "expires_at": _utc(info.expires_at),
        **info.details,
    }


def agent_fields(agent: Agent) -> dict[str, Any]:
    return {key: value for key, value in vars(agent).items() if value is not None}


def agents_document(
    snapshot: AgentSnapshot,
    agents: Iterable[Agent] | None = None,
    *,
    summary: bool = False,
    pool: PoolReport | None = None,
) -> dict[str, Any]:
    """The counts of every agent read; the rows of ``agents`` (default: all of them) unless ``summary``; and the
    pool beside the tenant when given."""
    document: dict[str, Any] = {
        "total": snapshot.total,
        "available": snapshot.available,
        "counts": snapshot.counts,
        "pages": snapshot.pages,
    }
    if pool is not None:
        document["pool"] = pool.document()
    if not summary:
        document["agents"] = [agent_fields(agent) for agent in (snapshot.agents if agents is None else agents)]
    return document


def watch_document(
    refresh: Refresh, agents: Iterable[Agent], *, summary: bool = False, pool: PoolReport | None = None
) -> dict[str, Any]:
    """One line of ``agents --watch --json``: the agents document of the pool after a refresh (with ``pool``, its
    ``pool`` key, as ``agents --pool --json`` has it), and the refresh.

    A failed refresh (``stale``) carries the last good pool, when it was read (``data_time``) and the failure
    (``error``, ``exit_code``; both null otherwise)."""
    error = refresh.error
    return {
        "time": refresh.at.isoformat(timespec="seconds"),
        "refresh": refresh.number,
        "stale": error is not None,
        "data_time": refresh.data_at.isoformat(timespec="seconds"),
        "requests": refresh.requests,
        "changed": refresh.changed,
        "full_read": refresh.complete,
        "assignments_read": refresh.assignments_read,
        "error": None if error is None else str(error),
        "exit_code": None if error is None else error.exit_code,
        **agents_document(refresh.snapshot, agents, summary=summary, pool=pool),
    }


def shown_value(value: Any) -> Any:
    """A setting's value as it may be shown: secrets as ``***``."""
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, (Decimal, Path)):
        return str(value)
    return value


def config_document(settings: Settings, sources: dict[str, str]) -> dict[str, Any]:
    return {
        "api": settings.api_name,
        "settings": {
            f"{ENV_PREFIX}{name.upper()}": {"value": shown_value(getattr(settings, name)), "source": sources[name]}
            for name in Settings.model_fields
        },
        "cache_dir": str(settings.resolved_cache_dir()),
        "state_dir": str(settings.resolved_state_dir()),
    }


def history_document(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit records as written (see :func:`audit_record`), oldest first."""
    return records


def replay_policy(run: PolicyRun) -> dict[str, Any]:
    """One policy's (or the record's) side of a replay. The minutes are null for a per-agent ratio; the abandon
    guard's counts are null on a side it did not run on; per row, its action (``policy.GuardResult.action``) and
    what that did to the value (``held``, ``cut``) are null where it did not run, or did nothing."""
    ran = run.guard_ran
    return {
        "policy": run.name,
        "rule": run.rule,
        "options": run.options,
        "changes": run.changes,
        "idle_agent_minutes": None if run.idle_agent_minutes is None else round(run.idle_agent_minutes, 2),
        "over_dial_minutes": None if run.over_dial_minutes is None else round(run.over_dial_minutes, 2),
        "min": run.min,
        "max": run.max,
        "mean": round(run.mean, 2),
        "steps_fired": run.steps_fired(),
        "limits": list(run.limits),
        "guard_held": run.guard_held if ran else None,
        "guard_cut": run.guard_cut if ran else None,
        "guard_actions": list(run.guard) if ran else [None] * len(run.limits),
        "guard_marks": [mark or None for mark in run.guard_marks] if ran else [None] * len(run.limits),
    }


def replay_guard(guard: GuardFacts | None) -> dict[str, Any] | None:
    """The abandon guard in a replay: whether it runs for the target, its windows and thresholds as configured,
    and the runs replayed without it for want of figures."""
    if guard is None:
        return None
    return {
        "status": guard.status,
        "short_window": guard.short,
        "compliance_window": guard.compliance,
        "setpoint_pct": float(guard.setpoint_pct),
        "cap_pct": float(guard.cap_pct),
        "min_calls": guard.min_calls,
        "without_figures": guard.without_figures,
    }


def replay_document(result: Replay) -> dict[str, Any]:
    """``replay TRACE --json``: the trace, then the configured policy and the design's rule side by side."""
    trace = result.trace
    return {
        "source": "trace",
        "trace": str(trace.path),
        "rows": len(trace.rows),
        "start": trace.label(trace.rows[0].time, full=True),
        "end": trace.label(trace.rows[-1].time, full=True),
        "value_kind": result.value_kind,
        "notes": list(result.notes),
        "policies": {"configured": replay_policy(result.configured), "design": replay_policy(result.design)},
        "guard": replay_guard(result.guard),
    }


def history_replay_document(result: Replay) -> dict[str, Any]:
    """``replay --history --json``: one target's recorded runs, what the log held besides them, the writes on
    each side, and the configured policy and the record side by side. Times are UTC."""
    history = result.history
    assert history is not None
    times = [row.time.astimezone(timezone.utc).isoformat() for row in result.trace.rows]
    return {
        "source": "history",
        "log": str(history.log),
        "name": history.name,
        **target_fields(history.ref),
        "value_kind": result.value_kind,
        "since": None if history.since is None else history.since.astimezone(timezone.utc).isoformat(),
        "start": times[0],
        "end": times[-1],
        "runs": history.replayed,
        "records": {
            "replayed": history.replayed,
            "dry_run": history.dry_runs,
            "failed": history.failed,
            "manual": history.manual,
            "unknown_outcome": history.unknown,
            "malformed": history.malformed,
            "earlier": history.earlier,
            "unreadable_lines": history.unreadable,
        },
        "outside_changes": history.outside,
        "other_targets": history.other_targets,
        "gaps": history.gaps,
        "writes": {
            "recorded": result.baseline.changes,
            "configured": result.configured.changes,
            "saved": result.saved,
        },
        "same_as_recorded": history.same_as_recorded,
        "notes": list(result.notes),
        "times": times,
        "policies": {"configured": replay_policy(result.configured), "recorded": replay_policy(result.baseline)},
        "guard": replay_guard(result.guard),
    }


def target_entry(name: str | None, document: dict[str, Any]) -> dict[str, Any]:
    """One target's document in a several-target run."""
    return {"name": name, **document}


def failed_target(name: str | None, exit_code: int, error: str | None) -> dict[str, Any]:
    return {"name": name, "exit_code": exit_code, "error": error}


def several_targets(entries: list[dict[str, Any]], exit_code: int) -> dict[str, Any]:
    return {"targets": entries, "exit_code": exit_code}


def audit_record(
    *,
    started: float,
    command: str,
    ref: TargetRef,
    dry_run: bool,
    result: CycleResult | ApplyResult | None,
    exit_code: int,
    error: str | None,
    duration: float,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One line of the audit log: who ran what on which target, the run's own document, and how it ended."""
    head = {"time": _utc(started), "command": command, **target_fields(ref), "dry_run": dry_run}
    if run_id is not None:
        head["run_id"] = run_id
    if isinstance(result, CycleResult):
        body = run_once_document(result)
    elif isinstance(result, ApplyResult):
        body = {**apply_document(result), "rule": "set by hand (apply)"}
    else:
        body = {}  # the run failed before it had anything to say
    return {
        **head,
        **{key: value for key, value in body.items() if key not in head},
        "exit_code": exit_code,
        "error": error,
        "duration_seconds": round(duration, 3),
    }


def intent_record(
    *, now: float, run_id: str, command: str, ref: TargetRef, previous: Value, limit: Value
) -> dict[str, Any]:
    """The audit line appended before a write is sent (``audit.INTENT``): what is about to be written where.

    Its ``run_id`` is the completed record's; ``previous_limit`` and ``limit`` mean what they mean there."""
    return {
        "time": _utc(now),
        "run_id": run_id,
        "phase": INTENT,
        "command": command,
        **target_fields(ref),
        "dry_run": False,
        "previous_limit": previous,
        "limit": limit,
    }
