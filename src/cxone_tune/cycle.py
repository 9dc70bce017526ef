"""The cycle the CLI, the demo, the benchmark and the tests all call: fetch -> compute -> apply."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from cxone_tune.errors import CampaignConflict, UsageError
from cxone_tune.http import ApiClient, RetryPolicy
from cxone_tune.memory import DecisionMemory
from cxone_tune.policy import Decision, Evaluation, Options, Params, PolicyParams, Pool, RatioParams, Value, evaluate
from cxone_tune.profiles import AgentSnapshot, Profile, Target, build_profile
from cxone_tune.profiles.base import PageCallback
from cxone_tune.settings import Settings, parse_steps

log = logging.getLogger(__name__)


def policy_params(settings: Settings) -> Params:
    """The rule for what the configured profile steers: a line count or a per-agent ratio."""
    if settings.value_kind == "ratio":
        return RatioParams(parse_steps(settings.ratio_steps), settings.min_ratio, settings.max_ratio)
    return PolicyParams(settings.safety_factor, settings.min_limit, settings.max_limit)


STABLE_PRESET: dict[str, Any] = {
    "acw_weight": Decimal("0.5"),
    "count_busy": True,
    "small_team_size": 6,
    "no_agents": "minimum",
    "raise_after_runs": 2,
    "max_raise": Decimal(5),
    "max_raise_pct": Decimal(20),
    "deadband": Decimal(1),
    "deadband_pct": Decimal(10),
}


def policy_options(settings: Settings) -> Options:
    """The policy's options: the preset (``CXONE_POLICY``), then each option that is set on its own."""
    chosen = dict(STABLE_PRESET) if settings.policy == "stable" else {}
    for name in Options.__dataclass_fields__:
        value = getattr(settings, name)
        if value is not None:
            chosen[name] = value
    if settings.value_kind == "ratio" and "deadband" in chosen and settings.deadband is None:
        chosen["deadband"] = Decimal("0.1")  # a ratio moves in tenths, not whole lines
    return Options(**chosen)


def decision_memory(settings: Settings, profile: Profile, options: Options) -> DecisionMemory | None:
    if options.raise_after_runs <= 1:
        return None  # nothing to remember: no file is read or written
    return DecisionMemory(settings.resolved_state_dir(), f"{profile.name}|{profile.target_id}")


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        time_budget=settings.time_budget,
        retry_after_cap=settings.retry_after_cap,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )


@contextlib.contextmanager
def open_profile(settings: Settings, transport: httpx.BaseTransport | None = None) -> Iterator[Profile]:
    """One HTTP client and one profile for the length of a run."""
    # Certificates are always verified; a private CA bundle is added to, never replaces, verification.
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(settings.ca_bundle)) if settings.ca_bundle else True
    )
    with ApiClient(retry_policy(settings), transport=transport, verify=verify) as client:
        yield build_profile(settings, client)


@dataclass(frozen=True)
class ComputeResult:
    snapshot: AgentSnapshot
    decision: Decision
    evaluation: Evaluation
    target: Target | None = None  # the steered resource as read, when the decision needed the value in force


@dataclass(frozen=True)
class ApplyResult:
    target: str
    previous: Value
    limit: Value
    changed: bool
    applied: bool
    dry_run: bool
    version: Any = None
    conflicts: int = 0


@dataclass(frozen=True)
class CycleResult:
    profile: str
    compute: ComputeResult
    apply: ApplyResult
    requests: int

    def to_json(self) -> dict[str, Any]:
        decision = self.compute.decision
        return {
            "profile": self.profile,
            "target": self.apply.target,
            "total_agents": decision.total,
            "available_agents": decision.available,
            "previous_limit": self.apply.previous,
            "limit": self.apply.limit,
            "changed": self.apply.changed,
            "applied": self.apply.applied,
            "dry_run": self.apply.dry_run,
            "version": self.apply.version,
            "conflicts": self.apply.conflicts,
            "rule": decision.rule,
            "reasons": list(decision.reasons),
            "held": self.compute.evaluation.held,
            "steps": [
                {"rule": s.rule, "before": s.before, "after": s.after, "fired": s.fired, "note": s.note}
                for s in self.compute.evaluation.steps
            ],
            "requests": self.requests,
        }


def compute(
    profile: Profile,
    params: Params,
    on_page: PageCallback | None = None,
    *,
    options: Options | None = None,
    read_current: bool = True,
    recent: tuple[Value, ...] = (),
) -> ComputeResult:
    """Fetch the agents, read the value in force, and decide."""
    snapshot = profile.fetch_agents(on_page, keep_agents=False)
    target = profile.read_target() if read_current else None
    pool = Pool(snapshot.available, snapshot.total, snapshot.busy, snapshot.acw)
    evaluation = evaluate(pool, params, options, target.value if target else None, recent)
    decision = evaluation.decision
    log.info(
        "%s of %s agents available; %s -> %s (%s)",
        decision.available,
        decision.total,
        target.value if target else "?",
        decision.limit,
        "; ".join(decision.reasons),
    )
    return ComputeResult(snapshot, decision, evaluation, target)


def apply_limit(
    profile: Profile,
    limit: Value,
    params: Params,
    *,
    dry_run: bool,
    max_conflict_retries: int = 3,
    target: Target | None = None,
) -> ApplyResult:
    """Set the steered value to ``limit`` unless it already is; re-apply on a fresh copy after a conflict."""
    low, high = params.bounds
    if not low <= limit <= high:
        raise UsageError(f"LIMIT {limit:g} is outside the configured bounds [{low:g}, {high:g}]")
    if isinstance(params, PolicyParams):
        if limit != int(limit):
            raise UsageError(f"LIMIT {limit:g} must be a whole number for {profile.field_label}")
        limit = int(limit)
    target = target or profile.read_target()
    first_seen = target.value
    conflicts = 0
    while True:
        if target.value == limit or dry_run:
            return ApplyResult(
                profile.target_id, target.value, limit, target.value != limit, False, dry_run, target.version, conflicts
            )
        try:
            stored = profile.write_target(target, limit)
        except CampaignConflict:
            conflicts += 1
            if conflicts > max_conflict_retries:
                raise CampaignConflict(
                    f"{profile.target_kind} {profile.target_id} kept changing under us "
                    f"({conflicts} conflicts); nothing written, will try again next run"
                ) from None
            log.info(
                "%s %s changed since it was read; re-applying on the fresh copy", profile.target_kind, profile.target_id
            )
            target = profile.read_target()
            continue
        log.info(
            "%s %s: %s %s -> %s", profile.target_kind, profile.target_id, profile.field_label, first_seen, stored.value
        )
        return ApplyResult(profile.target_id, target.value, stored.value, True, True, False, stored.version, conflicts)


def run_once(
    profile: Profile,
    params: Params,
    *,
    dry_run: bool,
    max_conflict_retries: int = 3,
    on_page: PageCallback | None = None,
    options: Options | None = None,
    memory: DecisionMemory | None = None,
) -> CycleResult:
    computed = compute(profile, params, on_page, options=options, recent=memory.recent() if memory else ())
    applied = apply_limit(
        profile,
        computed.decision.limit,
        params,
        dry_run=dry_run,
        max_conflict_retries=max_conflict_retries,
        target=computed.target,
    )
    if memory is not None and not dry_run:
        memory.remember(computed.evaluation.proposal)
    return CycleResult(profile.name, computed, applied, profile.client.stats.requests)
