"""``cxone-tune demo`` and ``cxone-tune sandbox``: the tool working against the local sandbox tenant."""

from __future__ import annotations

import errno
import json
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule

from cxone_sandbox import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
    sandbox_env,
)
from cxone_tune import cycle, render
from cxone_tune.chart import print_replay
from cxone_tune.errors import ConfigError, TemporaryFailure, UsageError
from cxone_tune.replay import replay_history
from cxone_tune.runner import recorded_run
from cxone_tune.settings import ENV_PREFIX, Settings


def serve_sandbox(*, port: int, agents: int, seed: int, token_ttl: int, latency: float) -> None:
    tenant = SandboxTenant(agents=agents, seed=seed, token_ttl=token_ttl, latency=latency)
    try:
        server = SandboxServer(tenant, port=port)
    except OSError as exc:  # the port is taken (another sandbox?) or needs privileges
        what = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be listened on ({exc.strerror})"
        error = TemporaryFailure if exc.errno == errno.EADDRINUSE else UsageError
        raise error(
            f"--port {port}: 127.0.0.1:{port} {what}; choose another port, or --port 0 for a free one"
        ) from None
    out = Console(highlight=False)
    out.print(
        f"sandbox tenant on {server.url} ({agents} agents; v2 campaign {DEFAULT_CAMPAIGN_ID}, "
        f"acd skill {DEFAULT_SKILL_ID}); Ctrl-C stops"
    )
    out.print("point cxone-tune at it with (CXONE_API=v2 or acd picks the profile):")
    for name, value in sandbox_env(server.url).items():
        out.print(f"  export {name}={value}", markup=False)
    out.file.flush()  # the variables must reach a pipe or a log before the server blocks
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("sandbox stopped")
    finally:
        server.stop()


@dataclass(frozen=True)
class _Target:
    """Where the steered value lives in the sandbox, for the demo's before/after view, and how its agents churn."""

    label: str
    read: Callable[[], dict[str, Any]]
    value: Callable[[dict[str, Any]], Any]
    steered_keys: tuple[str, ...]
    churned: str  # whose states the churn moves
    churn_size: Callable[[], int]  # how many agents they are
    set_mix: Callable[[int, int, int, int], object]  # agents available, on a contact, in after-call work, away


def _v2_target(tenant: SandboxTenant) -> _Target:
    return _Target(
        f"campaign {DEFAULT_CAMPAIGN_ID}",
        lambda: tenant.campaign(DEFAULT_CAMPAIGN_ID),
        lambda resource: resource["rules"]["maxConcurrentCalls"],
        ("version", "rules"),
        "agents",
        lambda: len(tenant.agents),
        lambda available, busy, acw, away: tenant.set_agent_states(
            ["available"] * available + ["in-progress"] * busy + ["wrap-up"] * acw + ["unavailable"] * away
        ),
    )


def _acd_target(tenant: SandboxTenant) -> _Target:
    # The skill's own agents change state, in place: who is assigned to the skill stays as the tenant has it
    # (the pool the demo showed), as on a real tenant, where agents come and go but assignments are an admin's.
    return _Target(
        f"skill {DEFAULT_SKILL_ID} general-settings",
        lambda: tenant.skill_settings_copy(DEFAULT_SKILL_ID),
        lambda resource: resource["maximumRatio"],
        ("maximumRatio",),
        "the skill's agents",
        lambda: len(tenant.pool_agents(DEFAULT_SKILL_ID)),
        lambda available, busy, acw, away: tenant.set_pool_states(
            DEFAULT_SKILL_ID,
            ["Dialer"] * available + ["OutboundContact"] * busy + ["ACW"] * acw + ["Unavailable"] * away,
        ),
    )


# The profiles the demo can show (the one list: the CLI's --api is checked against it in demo_profile), and where
# the sandbox keeps each one's steered value and agents (sandbox knowledge, not the profile's).
_SANDBOX_TARGETS: dict[str, Callable[[SandboxTenant], _Target]] = {"v2": _v2_target, "acd": _acd_target}
CHURN_RUNS = 12


def churn(agents: int, seed: int, runs: int = CHURN_RUNS) -> list[tuple[int, int, int, int]]:
    """The agent mix at each of ``runs`` runs: (available, on a contact, in after-call work, away). The staffed
    team stays put while availability flaps by an agent or two around a third of it, as calls start and end (the
    shape of ``examples/trace-flapping.csv``)."""
    rng = random.Random(seed)
    away = acw = agents // 10
    capacity = agents - away - acw
    mixes = []
    for _ in range(runs):
        available = max(0, min(capacity, capacity // 3 + rng.choice((-2, -1, 0, 1, 2))))
        mixes.append((available, capacity - available, acw, away))
    return mixes


SANDBOX_PROFILES = tuple(_SANDBOX_TARGETS)


def sandbox_settings(api: str, url: str, cache: Path, **overrides: Any) -> Settings:
    """Settings pointed at a sandbox tenant at ``url`` for profile ``api``, ignoring any .env and CXONE_*
    credentials around: the demo, the benchmark and the tests all build theirs here."""
    sandbox = {name.removeprefix(ENV_PREFIX).lower(): value for name, value in sandbox_env(url).items()}
    common: dict[str, Any] = {
        "_env_file": None,  # never pick up a real tenant's .env
        **sandbox,
        "api": api,
        "cache_dir": cache,
    }
    return Settings(**{**common, **overrides})


def _guard_holds_a_raise(
    out: Console, job: cycle.Job, tenant: SandboxTenant, step: int, run_once: Callable[[bool], cycle.CycleResult]
) -> None:
    """acd: more of the skill's agents join the dialer, but today's abandon rate is not below half the setpoint:
    the policy proposes a raise and the abandon guard holds it."""
    settings = job.settings
    live = 1000
    abandons = int(live * settings.abandon_setpoint_pct * 3 / 4 / 100)  # 1.5% at the default 2%: not below 1%
    tenant.add_calls(DEFAULT_SKILL_ID, abandons, live - abandons, seconds_ago=60)
    joined = tenant.move_pool_agents(DEFAULT_SKILL_ID, "Dialer", 30)
    out.print(
        Rule(f"{step}. {joined} of the skill's agents join the dialer; {abandons} of {live} live calls today abandoned")
    )
    held = run_once(False)
    render.print_cycle(out, held)
    guard = held.compute.evaluation.guard
    if guard is not None and guard.action == "hold":
        out.print(f"[bold]the abandon guard held the raise[/]: {held.compute.decision.raw:g} proposed, nothing written")


DEFAULT_PROFILE = "v2"


def demo_profile(option: str | None = None, global_option: str | None = None) -> str:
    """The profile the demo shows, as every other command picks one: ``demo --api``, else the global ``--api``,
    else ``CXONE_API``, else v2. Only the variable is read of the environment: the demo never uses a tenant's
    credentials, so an access key does not choose acd. A profile the sandbox does not speak is the usage error
    of the option that named it (2), or the configuration error of ``CXONE_API`` (78)."""
    speaks = " and ".join(SANDBOX_PROFILES)
    for name, value in (("demo --api", option), ("--api", global_option)):
        if value is not None:
            if value not in _SANDBOX_TARGETS:
                raise UsageError(f"{name}: the sandbox speaks {speaks}, not {value!r}")
            return value
    value = os.environ.get(f"{ENV_PREFIX}API", "").strip()
    if not value:
        return DEFAULT_PROFILE
    if value not in _SANDBOX_TARGETS:
        raise ConfigError(f"{ENV_PREFIX}API: the sandbox speaks {speaks}, not {value!r}")
    return value


def run_demo(out: Console, *, agents: int, seed: int, api: str = DEFAULT_PROFILE) -> None:
    """The demo of profile ``api``: one of ``SANDBOX_PROFILES``, as :func:`demo_profile` picks it."""
    tenant = SandboxTenant(agents=agents, seed=seed)
    target = _SANDBOX_TARGETS[api](tenant)
    with SandboxServer(tenant).start() as server, tempfile.TemporaryDirectory() as scratch:
        # The environment's policy and filters apply (CXONE_POLICY=stable shows the stable steps); the sandbox's
        # credentials, token cache and state (the decision memory) are the demo's own and vanish with it.
        # Its runs are recorded in its own audit log (for the replay at the end), and never ping or write the
        # operator's monitoring.
        settings = sandbox_settings(
            api,
            server.url,
            Path(scratch) / "cache",
            state_dir=Path(scratch) / "state",
            healthcheck_url=None,
            metrics_file=None,
        )
        job = cycle.Job.from_settings(settings)

        def run_once(dry_run: bool) -> cycle.CycleResult:
            return recorded_run(
                job, "run-once", dry_run=dry_run, action=lambda profile: cycle.run_once(job, profile, dry_run=dry_run)
            )

        styles = job.profile_class.state_styles
        out.print(
            Panel.fit(
                f"Sandbox tenant on {server.url}: {agents} agents, {target.label}.\n"
                f"{api} API profile, {settings.policy} policy (CXONE_POLICY and the filters apply).\n"
                "Everything below is real HTTP to this machine only;\nno CXone tenant is contacted.",
                title="cxone-tune demo",
            )
        )
        before = target.read()
        out.print(Rule(f"1. The {target.label} as the tenant holds it"))
        out.print_json(json.dumps(before))

        has_pool = job.profile_class.has_skill_pool
        out.print(Rule("2. cxone-tune auth-check, then agents" + (" --pool" if has_pool else "")))
        with job.open() as profile:
            out.print(render.login_line(profile.login()))
            snapshot, pooled = cycle.read_agents(job, profile, activity=has_pool)
        if snapshot.total <= 60:
            out.print(render.agents_table(snapshot.agents, job.profile_class.group_label, styles))
        out.print(render.summary_table(snapshot, styles))
        if pooled.skill is not None:
            render.print_pool(out, pooled, job.target, styles)

        out.print(Rule("3. cxone-tune run-once --dry-run"))
        dry = run_once(dry_run=True)
        render.print_cycle(out, dry)
        unchanged = "unchanged" if target.read() == before else "CHANGED (a bug)"
        out.print(f"[dim]{dry.requests} request(s); the {target.label} is {unchanged}[/]")

        out.print(Rule("4. cxone-tune run-once"))
        real = run_once(dry_run=False)
        out.print(render.change_line(real.apply))
        out.print(f"[dim]{real.requests} request(s), token reused from the cache[/]")

        out.print(Rule("5. cxone-tune run-once, five minutes later (nothing changed)"))
        again = run_once(dry_run=False)
        out.print(render.change_line(again.apply))
        reads = "the agent page(s) and one read"
        if has_pool:
            reads = "the skill's assignments, the agent page(s), its activity, its abandon figures and one read"
        out.print(f"[dim]{again.requests} request(s): {reads}, no login, no write[/]")

        step = 6
        if settings.profile_class.has_abandon_data and settings.abandon_guard:
            _guard_holds_a_raise(out, job, tenant, step, run_once)
            step += 1

        out.print(Rule(f"{step}. cxone-tune run-once, {CHURN_RUNS} more times while {target.churned} come and go"))
        for available, busy, acw, away in churn(target.churn_size(), seed):
            target.set_mix(available, busy, acw, away)
            result = run_once(dry_run=False)
            seen = result.compute.snapshot  # what the run counted (acd: the skill's pool, a part of the tenant)
            counted = f"{seen.available:>3} of {seen.total} available, {seen.busy:>3} on a contact"
            guard = result.compute.evaluation.guard
            held = ""
            if guard is not None and guard.action == "hold":
                held = f" (the abandon guard held back {result.compute.decision.raw:g})"
            out.print(f"{counted}: {render.change_line(result.apply)}{held}", markup=False)

        after = target.read()
        out.print(Rule(f"{step + 1}. The {target.label} afterwards"))
        out.print_json(json.dumps(after))
        kept = sorted(key for key in before if key not in target.steered_keys and before[key] == after.get(key))
        out.print(
            f"{job.target.field} {target.value(before)} -> {target.value(after)}; "
            f"every other field kept as it was: {', '.join(kept)}"
        )

        # What an operator asks before switching a policy on: what would it have done on the runs just made?
        other = "stable" if settings.policy == "design" else "design"
        out.print(Rule(f"{step + 2}. CXONE_POLICY={other} cxone-tune replay --history: the runs above, replayed"))
        print_replay(out, replay_history(settings.model_copy(update={"policy": other})))
