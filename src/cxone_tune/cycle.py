"""The cycle the CLI, the demo, the benchmark and the tests all call: fetch -> compute -> apply."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from cxone_tune import abandon, startup
from cxone_tune import pool as skill_pool
from cxone_tune.errors import CampaignConflict, GuardRefused, UsageError
from cxone_tune.http import Ahead, ApiClient, Pending, RetryPolicy, tls_context
from cxone_tune.memory import DecisionMemory
from cxone_tune.policy import (
    Decision,
    Evaluation,
    Options,
    Params,
    PolicyParams,
    Pool,
    RatioParams,
    Value,
    evaluate,
    guard_result,
)
from cxone_tune.profiles import AgentSnapshot, Profile, Target, TargetRef
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


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        time_budget=settings.time_budget,
        retry_after_cap=settings.retry_after_cap,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
    )


def tls_verify(settings: Settings) -> ssl.SSLContext | bool:
    """Certificates are always verified; a private CA bundle is added to the default trust store."""
    return tls_context(settings.ca_bundle)


@dataclass(frozen=True)
class Job:
    """Everything a run needs, built once from the settings: which profile and target, the policy, the
    retry rules, the decision memory and the TLS context. The CLI, the demo, the benchmark and the tests all
    build one with :meth:`from_settings` and hand it to :func:`compute`, :func:`apply_limit`, :func:`run_once`."""

    settings: Settings
    profile_class: type[Profile]
    target: TargetRef
    params: Params
    options: Options
    retry: RetryPolicy
    verify: ssl.SSLContext | bool
    memory: DecisionMemory | None  # None when the policy remembers nothing (no file is read or written)

    @classmethod
    def from_settings(cls, settings: Settings) -> Job:
        profile_class = settings.profile_class
        target = profile_class.target_ref(settings)
        options = policy_options(settings)
        memory = (
            DecisionMemory(settings.resolved_state_dir(), f"{target.profile}|{target.id}")
            if options.raise_after_runs > 1
            else None
        )
        return cls(
            settings,
            profile_class,
            target,
            policy_params(settings),
            options,
            retry_policy(settings),
            tls_verify(settings),
            memory,
        )

    @property
    def max_conflict_retries(self) -> int:
        return self.settings.max_conflict_retries

    @contextlib.contextmanager
    def open(self, transport: httpx.BaseTransport | None = None) -> Iterator[Profile]:
        """One HTTP client and one profile for the length of a run; the transport is the one given, else the
        profile's own (e.g. an in-process tenant), else the network."""
        chosen = transport or self.profile_class.transport(self.settings)
        with ApiClient(self.retry, transport=chosen, verify=self.verify) as client:
            startup.resume_gc()  # the console script's start-up ends here (startup.py)
            yield self.profile_class(self.settings, client)


@dataclass(frozen=True)
class ComputeResult:
    ref: TargetRef
    snapshot: AgentSnapshot
    decision: Decision
    evaluation: Evaluation
    target: Target | None = None  # the steered resource as read, when the decision needed the value in force
    pool: skill_pool.PoolReport | None = None  # the skill's pool beside the tenant's agents (issue 10)
    guard: abandon.GuardReport | None = None  # the abandon guard's windows as read (issue 10)
    recent: tuple[Value, ...] = ()  # the earlier runs' proposals the decision saw

    def decide_again(self, job: Job, current: Value) -> Evaluation:
        """The same decision (the same counts, abandon figures and earlier proposals) for another value in
        force: another writer changed it after it was read, and a decision made on the old value (a raise the
        abandon guard holds back from the new one, say) must not be written over theirs."""
        figures = self.guard.read.figures if self.guard is not None and self.guard.read is not None else None
        return evaluate(self.counted, job.params, job.options, current, self.recent, figures)

    @property
    def counted(self) -> Pool:
        """The counts the decision was made on, all from one source (:attr:`counted_by`)."""
        snapshot = self.snapshot
        if self.pool is not None:
            return self.pool.decision_pool(snapshot)
        return Pool(snapshot.available, snapshot.total, snapshot.busy, snapshot.acw)

    @property
    def counted_by(self) -> str:
        """ "activity", "assigned" or "tenant": where :attr:`counted` comes from (the per-state ``counts`` are always
        of the agents read: the skill's assigned agents, or the tenant's)."""
        return self.pool.counted_by if self.pool is not None else "tenant"


@dataclass(frozen=True)
class ApplyResult:
    ref: TargetRef
    previous: Value
    limit: Value
    changed: bool
    applied: bool
    dry_run: bool
    version: Any = None
    conflicts: int = 0
    overridden: str | None = None  # apply --force: what the abandon guard allowed, and why, when LIMIT was above it


@dataclass(frozen=True)
class CycleResult:
    compute: ComputeResult
    apply: ApplyResult
    requests: int

    @property
    def ref(self) -> TargetRef:
        return self.apply.ref


def compute(
    job: Job,
    profile: Profile,
    on_page: PageCallback | None = None,
    *,
    read_current: bool = True,
    recent: tuple[Value, ...] | None = None,
) -> ComputeResult:
    """Fetch the agents, read the value in force, and decide (``recent``: the job's memory unless given)."""
    if recent is None:
        recent = job.memory.recent() if job.memory else ()
    settings = job.settings
    ahead = Ahead(_room(job, profile, read_current))
    activity = ahead.start(profile.read_activity) if skill_pool.reads_pool(profile, settings) else False
    guard_read = abandon.read(profile, settings, ahead=ahead)
    target_read = ahead.start(profile.read_target) if read_current else None
    snapshot, pooled = read_agents(job, profile, on_page, keep_agents=False, activity=activity, ahead=ahead)
    guard = abandon.GuardReport.of(settings, guard_read.result())
    target = target_read.result() if target_read is not None else None
    figures = guard.read.figures if guard.read is not None else None
    current = target.value if target else None
    evaluation = evaluate(pooled.decision_pool(snapshot), job.params, job.options, current, recent, figures)
    decision = evaluation.decision
    log.info(
        "%s of %s agents available; %s -> %s (%s)",
        decision.available,
        decision.total,
        target.value if target else "?",
        decision.limit,
        "; ".join(decision.reasons),
    )
    if pooled.skill is not None:
        log.info(
            "%s %s's pool: %s of %s agents available (the tenant: %s of %s; counting by %s)",
            job.target.kind,
            job.target.id,
            pooled.skill.available,
            pooled.skill.total,
            pooled.tenant.available,
            pooled.tenant.total,
            pooled.source,
        )
    return ComputeResult(job.target, snapshot, decision, evaluation, target, pooled, guard, recent)


def _room(job: Job, profile: Profile, read_current: bool) -> int:
    """How many of a cycle's reads that do not need the agents may go out together ahead of them
    (:class:`~cxone_tune.http.Ahead`): the skill's activity, the abandon guard's windows (one after the other, the
    short one first) and the steered value travel beside the skill's assignments and each other, within
    ``CXONE_PAGE_CONCURRENCY`` requests at once with the caller's own (1: none, every read after the one before,
    as the cycle always read them).

    None when fewer than two requests could travel together (v2: its one read of the campaign), or when the run
    has no token at hand: a login is made once, by the first request, never by several at once."""
    settings = job.settings
    pool_reads = 2 * skill_pool.reads_pool(profile, settings)  # the assignments, and the activity beside them
    together = pool_reads + abandon.reads(profile, settings) + read_current  # the guard: its windows one by one
    if together < 2 or settings.page_concurrency < 2 or not profile.token_at_hand():
        return 0
    return settings.page_concurrency - 1


def read_agents(
    job: Job,
    profile: Profile,
    on_page: PageCallback | None = None,
    *,
    keep_agents: bool = True,
    activity: bool | Pending[skill_pool.SkillActivity] = True,
    check: bool = True,
    ahead: Ahead | None = None,
) -> tuple[AgentSnapshot, skill_pool.PoolReport]:
    """The agents the target is paced for: the skill's assignments first (when the profile has a pool and
    ``CXONE_POOL_SOURCE`` is not ``tenant``), every page of agents joined with them, the filters checked, and
    (``activity``: True, or the read as started ahead) the skill's activity read as a cross-check. Any of these
    reads failing raises: nothing is written on a pool the run could not see whole. The reads started on
    ``ahead`` end before the agents' first page goes out. ``check=False`` (a listing, which shows what is there):
    the filters' findings are warnings only."""
    live: Pending[skill_pool.SkillActivity] | None = None
    if isinstance(activity, Pending):
        live = activity
    elif activity and skill_pool.reads_pool(profile, job.settings):
        live = Pending(profile.read_activity)
    # The assignments' pages share the window with the reads started ahead (which may still be out).
    window = max(1, job.settings.page_concurrency - (ahead.started if ahead is not None else 0))
    assignments = skill_pool.load(profile, job.settings, window)
    if ahead is not None:
        ahead.settle()
    if check:
        skill_pool.check(profile, job.settings, assignments)  # a pool of nobody ends the run here, like a filter
    snapshot = profile.fetch_agents(on_page, keep_agents=keep_agents)
    if check:
        warnings = profile.check_filters(snapshot)  # a filter that matches nobody ends the run here
    else:
        errors, warnings = profile.filter_findings(snapshot)
        empty = skill_pool.empty_pool(profile, job.settings, assignments)
        warnings = errors + warnings + ([empty] if empty is not None else [])
    for warning in warnings:
        log.warning("%s", warning)
    return snapshot, skill_pool.report(profile, job.settings, snapshot, assignments, activity=live)


def apply_limit(
    job: Job,
    profile: Profile,
    limit: Value,
    *,
    dry_run: bool,
    target: Target | None = None,
    decide: Callable[[Target], Value] | None = None,
    guard: Callable[[Target, Value], str | None] | None = None,
) -> ApplyResult:
    """Set the steered value to ``limit`` unless it already is. After a conflict (another writer changed the
    resource since it was read), on the fresh copy: ``decide`` it again when given (a run's decision depends on
    the value in force), else apply the same ``limit`` (an operator's ``apply LIMIT``). ``guard`` (an operator's
    value: :func:`hand_guard`) is asked about every copy the value would be written over, before anything is
    written or a dry run answers: it raises to refuse, or returns the line that says it was overridden."""
    ref, params = job.target, job.params
    low, high = params.bounds
    if not low <= limit <= high:
        raise UsageError(f"LIMIT {limit:g} is outside the configured bounds [{low:g}, {high:g}]")
    if isinstance(params, PolicyParams):
        if limit != int(limit):
            raise UsageError(f"LIMIT {limit:g} must be a whole number for {ref.field}")
        limit = int(limit)
    target = target or profile.read_target()
    first_seen = target.value
    conflicts = 0
    while True:
        overridden = guard(target, limit) if guard is not None else None
        if target.value == limit or dry_run:
            return ApplyResult(
                ref, target.value, limit, target.value != limit, False, dry_run, target.version, conflicts, overridden
            )
        for hook in profile.before_write:  # the audit intent line: on disk before the write is sent
            hook(target, limit)
        try:
            stored = profile.write_target(target, limit)
        except CampaignConflict:
            conflicts += 1
            if conflicts > job.max_conflict_retries:
                raise CampaignConflict(
                    f"{ref.kind} {ref.id} kept changing under us "
                    f"({conflicts} conflicts); nothing written, will try again next run"
                ) from None
            target = profile.read_target()
            if decide is not None:
                limit = decide(target)
                log.info("%s %s changed since it was read; decided again on the fresh copy", ref.kind, ref.id)
            else:
                log.info("%s %s changed since it was read; re-applying on the fresh copy", ref.kind, ref.id)
            continue
        log.info("%s %s: %s %s -> %s", ref.kind, ref.id, ref.field, first_seen, stored.value)
        return ApplyResult(ref, target.value, stored.value, True, True, False, stored.version, conflicts, overridden)


def hand_guard(job: Job, profile: Profile, *, force: bool) -> Callable[[Target, Value], str | None]:
    """The abandon guard over an operator's ``apply LIMIT`` (for :func:`apply_limit`): a lowering, or a value no
    higher than the one in force, is always allowed and reads nothing; a raise reads the guard's two windows once
    (when the profile has abandon figures and ``CXONE_ABANDON_GUARD`` is on) and meets the policy's own rule
    (:func:`~cxone_tune.policy.guard_result`). Above what the guard allows it raises :class:`GuardRefused`, or
    with ``force`` returns the line that says so (logged as a warning, carried by the output and the audit line)."""
    settings, ref = job.settings, job.target
    read: list[abandon.GuardRead | None] = []  # the windows, read on the first raise

    def check(target: Target, limit: Value) -> str | None:
        if not limit > target.value or not abandon.reads(profile, settings):
            return None
        if not read:
            read.append(abandon.read(profile, settings).result())
        figures = read[0].figures if read[0] is not None else None
        if figures is None:
            return None
        result = guard_result(figures, job.options, job.params, target.value, limit)
        if result.ceiling is None or limit <= result.ceiling:
            return None
        allows = (
            f"the abandon guard allows at most {result.ceiling:g} for {ref.kind} {ref.id} "
            f"({ref.field} {target.value:g} in force): {result.why}"
        )
        if not force:
            raise GuardRefused(f"LIMIT {limit:g} refused: {allows}; nothing written (--force overrides)")
        overridden = f"abandon guard overridden (--force): {allows}"
        log.warning("LIMIT %s: %s", f"{limit:g}", overridden)
        return overridden

    return check


def run_once(job: Job, profile: Profile, *, dry_run: bool, on_page: PageCallback | None = None) -> CycleResult:
    computed = compute(job, profile, on_page)

    def decide_again(fresh: Target) -> Value:
        return computed.decide_again(job, fresh.value).decision.limit

    applied = apply_limit(
        job, profile, computed.decision.limit, dry_run=dry_run, target=computed.target, decide=decide_again
    )
    if job.memory is not None and not dry_run:
        job.memory.remember(computed.evaluation.proposal)
    return CycleResult(computed, applied, profile.client.stats.requests)
