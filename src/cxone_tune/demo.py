"""``cxone-tune demo`` and ``cxone-tune sandbox``: the tool working against the local sandbox tenant."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule

from cxone_tune import cycle, render
from cxone_tune.sandbox import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    SandboxServer,
    SandboxTenant,
)
from cxone_tune.settings import Settings


def serve_sandbox(*, port: int, agents: int, seed: int, token_ttl: int, latency: float) -> None:
    tenant = SandboxTenant(agents=agents, seed=seed, token_ttl=token_ttl, latency=latency)
    server = SandboxServer(tenant, port=port)
    out = Console(highlight=False)
    out.print(f"sandbox tenant on {server.url} ({agents} agents, campaign {DEFAULT_CAMPAIGN_ID}); Ctrl-C stops")
    out.print("point cxone-tune at it with:")
    for name, value in _env(server.url).items():
        out.print(f"  export {name}={value}", markup=False)
    out.file.flush()  # the variables must reach a pipe or a log before the server blocks
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("sandbox stopped")
    finally:
        server.stop()


def _env(url: str) -> dict[str, str]:
    return {
        "CXONE_API": "v2",
        "CXONE_TENANT_URL": url,
        "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
        # The sandbox's own well-known demo credential, not a secret of any real tenant.
        "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
    }


def run_demo(out: Console, *, agents: int, seed: int) -> None:
    tenant = SandboxTenant(agents=agents, seed=seed)
    with SandboxServer(tenant).start() as server, tempfile.TemporaryDirectory() as cache:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]  # the demo must not pick up a real tenant's .env
            api="v2",
            tenant_url=server.url,
            client_id=DEFAULT_CLIENT_ID,
            client_secret=SecretStr(DEFAULT_CLIENT_SECRET),
            campaign_id=DEFAULT_CAMPAIGN_ID,
            cache_dir=Path(cache),
        )
        params = cycle.policy_params(settings)
        out.print(
            Panel.fit(
                f"Sandbox tenant on {server.url}: {agents} agents, campaign {DEFAULT_CAMPAIGN_ID}.\n"
                "Everything below is real HTTP to this machine only; no CXone tenant is contacted.",
                title="cxone-tune demo",
            )
        )
        before = tenant.campaign(DEFAULT_CAMPAIGN_ID)
        out.print(Rule("1. The campaign as the tenant holds it"))
        out.print_json(json.dumps(before))

        out.print(Rule("2. cxone-tune agents"))
        with cycle.open_profile(settings) as profile:
            snapshot = profile.fetch_agents()
        if snapshot.total <= 60:
            out.print(render.agents_table(snapshot.agents, "Queue"))
        out.print(render.summary_table(snapshot))

        out.print(Rule("3. cxone-tune run-once --dry-run"))
        with cycle.open_profile(settings) as profile:
            dry = cycle.run_once(profile, params, dry_run=True)
        render.print_cycle(out, dry, profile.target_kind, profile.field_label)
        out.print(
            f"[dim]{dry.requests} request(s); the campaign's version is still "
            f"{tenant.campaign(DEFAULT_CAMPAIGN_ID)['version']}[/]"
        )

        out.print(Rule("4. cxone-tune run-once"))
        with cycle.open_profile(settings) as profile:
            real = cycle.run_once(profile, params, dry_run=False)
        out.print(render.change_line(real.apply, profile.target_kind, profile.field_label))
        out.print(f"[dim]{real.requests} request(s), token reused from the cache[/]")

        out.print(Rule("5. cxone-tune run-once, five minutes later (nothing changed)"))
        with cycle.open_profile(settings) as profile:
            again = cycle.run_once(profile, params, dry_run=False)
        out.print(render.change_line(again.apply, profile.target_kind, profile.field_label))
        out.print(f"[dim]{again.requests} request(s): the agent page(s) and one campaign read, no write[/]")

        after = tenant.campaign(DEFAULT_CAMPAIGN_ID)
        out.print(Rule("6. The campaign afterwards"))
        out.print_json(json.dumps(after))
        untouched = sorted(key for key in before if key not in ("version", "rules") and before[key] == after[key])
        out.print(
            f"rules.maxConcurrentCalls {before['rules']['maxConcurrentCalls']} -> "
            f"{after['rules']['maxConcurrentCalls']}, version {before['version']} -> {after['version']}; "
            f"other fields kept as they were: {', '.join(untouched)}"
        )
