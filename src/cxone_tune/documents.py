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
from typing import Any

from pydantic import SecretStr

from cxone_tune.cycle import ApplyResult, ComputeResult, CycleResult
from cxone_tune.policy import Value
from cxone_tune.pool import PoolReport
from cxone_tune.profiles import Agent, AgentSnapshot, LoginInfo, TargetRef
from cxone_tune.settings import ENV_PREFIX, Settings


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def target_fields(ref: TargetRef) -> dict[str, Any]:
    return {"profile": ref.profile, "target": ref.id, "target_kind": ref.kind, "field": ref.field}


def decision_fields(result: ComputeResult, previous: Value | None, limit: Value) -> dict[str, Any]:
    """What was seen and decided, with the value in force before (``previous_limit``) and the one chosen."""
    decision, snapshot, evaluation = result.decision, result.snapshot, result.evaluation
    return {
        **target_fields(result.ref),
        "total_agents": decision.total,
        "available_agents": decision.available,
        "busy_agents": snapshot.busy,
        "acw_agents": snapshot.acw,
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
        "phase": "intent",
        "command": command,
        **target_fields(ref),
        "dry_run": False,
        "previous_limit": previous,
        "limit": limit,
    }
