"""``cxone-tune demo`` and ``cxone-tune sandbox``: the tool working against the local sandbox tenant."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    SandboxServer,
    SandboxTenant,
    sandbox_env,
)
from cxone_tune import cycle, render
from cxone_tune.settings import ApiName, Settings


def serve_sandbox(*, port: int, agents: int, seed: int, token_ttl: int, latency: float) -> None:
    tenant = SandboxTenant(agents=agents, seed=seed, token_ttl=token_ttl, latency=latency)
    server = SandboxServer(tenant, port=port)
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
    """Where the steered value lives in the sandbox, for the demo's before/after view."""

    label: str
    read: Callable[[], dict[str, Any]]
    value: Callable[[dict[str, Any]], Any]
    steered_keys: tuple[str, ...]


def sandbox_settings(api: ApiName, url: str, cache: Path, **overrides: Any) -> Settings:
    """Settings pointed at a sandbox tenant at ``url``, ignoring any .env and CXONE_* credentials around:
    the demo, the benchmark and the tests all build theirs here."""
    common: dict[str, Any] = {
        "_env_file": None,  # never pick up a real tenant's .env
        "api": api,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": SecretStr(DEFAULT_CLIENT_SECRET),
        "cache_dir": cache,
    }
    if api == "v2":
        common |= {"tenant_url": url, "campaign_id": DEFAULT_CAMPAIGN_ID}
    else:
        common |= {
            "issuer": url,
            "access_key_id": DEFAULT_ACCESS_KEY_ID,
            "access_key_secret": SecretStr(DEFAULT_ACCESS_KEY_SECRET),
            "skill_id": DEFAULT_SKILL_ID,
        }
    return Settings(**{**common, **overrides})


def run_demo(out: Console, *, agents: int, seed: int, api: ApiName = "v2") -> None:
    tenant = SandboxTenant(agents=agents, seed=seed)
    if api == "v2":
        target = _Target(
            f"campaign {DEFAULT_CAMPAIGN_ID}",
            lambda: tenant.campaign(DEFAULT_CAMPAIGN_ID),
            lambda resource: resource["rules"]["maxConcurrentCalls"],
            ("version", "rules"),
        )
    else:
        target = _Target(
            f"skill {DEFAULT_SKILL_ID} general-settings",
            lambda: tenant.skill_settings_copy(DEFAULT_SKILL_ID),
            lambda resource: resource["maximumRatio"],
            ("maximumRatio",),
        )
    with SandboxServer(tenant).start() as server, tempfile.TemporaryDirectory() as cache:
        settings = sandbox_settings(api, server.url, Path(cache))
        params = cycle.policy_params(settings)
        out.print(
            Panel.fit(
                f"Sandbox tenant on {server.url}: {agents} agents, {target.label}, {api} API profile.\n"
                "Everything below is real HTTP to this machine only; no CXone tenant is contacted.",
                title="cxone-tune demo",
            )
        )
        before = target.read()
        out.print(Rule(f"1. The {target.label} as the tenant holds it"))
        out.print_json(json.dumps(before))

        out.print(Rule("2. cxone-tune auth-check, then agents"))
        with cycle.open_profile(settings) as profile:
            out.print(render.login_line(profile.login()))
            snapshot = profile.fetch_agents()
        if snapshot.total <= 60:
            out.print(render.agents_table(snapshot.agents, "Queue" if api == "v2" else "Skill"))
        out.print(render.summary_table(snapshot))

        out.print(Rule("3. cxone-tune run-once --dry-run"))
        with cycle.open_profile(settings) as profile:
            dry = cycle.run_once(profile, params, dry_run=True)
        render.print_cycle(out, dry, profile.target_kind, profile.field_label)
        unchanged = "unchanged" if target.read() == before else "CHANGED (a bug)"
        out.print(f"[dim]{dry.requests} request(s); the {target.label} is {unchanged}[/]")

        out.print(Rule("4. cxone-tune run-once"))
        with cycle.open_profile(settings) as profile:
            real = cycle.run_once(profile, params, dry_run=False)
        out.print(render.change_line(real.apply, profile.target_kind, profile.field_label))
        out.print(f"[dim]{real.requests} request(s), token reused from the cache[/]")

        out.print(Rule("5. cxone-tune run-once, five minutes later (nothing changed)"))
        with cycle.open_profile(settings) as profile:
            again = cycle.run_once(profile, params, dry_run=False)
        out.print(render.change_line(again.apply, profile.target_kind, profile.field_label))
        out.print(f"[dim]{again.requests} request(s): the agent page(s) and one read, no login, no write[/]")

        after = target.read()
        out.print(Rule(f"6. The {target.label} afterwards"))
        out.print_json(json.dumps(after))
        kept = sorted(key for key in before if key not in target.steered_keys and before[key] == after.get(key))
        out.print(
            f"{profile.field_label} {target.value(before)} -> {target.value(after)}; "
            f"every other field kept as it was: {', '.join(kept)}"
        )
