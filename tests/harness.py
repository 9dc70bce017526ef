"""A harness per API profile: where its steered value lives and how to count its calls, so integration tests
are written once and run against both (the ``harness`` fixture in conftest.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cxone_sandbox import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    SandboxTenant,
)
from cxone_tune.settings import Settings

V2_AGENTS = "/api/v2/realtime/agents"
V2_CAMPAIGN = f"/api/v2/campaigns/{DEFAULT_CAMPAIGN_ID}"
ACD_BASE = "/inContactAPI/services/v30.0"
ACD_AGENTS = f"{ACD_BASE}/agents/states"
ACD_SETTINGS = f"{ACD_BASE}/skills/{DEFAULT_SKILL_ID}/parameters/general-settings"


@dataclass
class Harness:
    name: str
    tenant: SandboxTenant
    env: dict[str, str]
    agents_path: str
    target_path: str
    stored: Callable[[], dict[str, Any]]
    value_of: Callable[[dict[str, Any]], Any]
    set_states: Callable[[int, int], None]  # (available, busy)
    expected: Callable[[int], Any]  # the value the default policy picks for N available agents
    available: Callable[[], int]
    # Agents pages read at once: v2's token paging is one page after another; acd's offset pages after the
    # first are read CXONE_PAGE_CONCURRENCY at a time (its default here).
    window: int = 1

    def value(self) -> Any:
        return self.value_of(self.stored())

    def writes(self) -> int:
        return self.tenant.count("PUT", self.target_path)

    def pages(self) -> int:
        return self.tenant.count("GET", self.agents_path)

    def logins(self) -> int:
        """Requests to get a token or find an endpoint: none in a steady state."""
        return (
            self.tenant.count("POST", "/oauth/token")
            + self.tenant.count("POST", "/auth/token")
            + (self.tenant.count("GET", "/.well-known/"))
        )


def v2_harness(tenant: SandboxTenant, url: str, cache: Path) -> Harness:
    def set_states(available: int, busy: int) -> None:
        tenant.set_agent_states(["available"] * available + ["in-progress"] * busy)

    return Harness(
        name="v2",
        tenant=tenant,
        env={
            "CXONE_TENANT_URL": url,
            "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
        },
        agents_path=V2_AGENTS,
        target_path=V2_CAMPAIGN,
        stored=lambda: tenant.campaign(DEFAULT_CAMPAIGN_ID),
        value_of=lambda resource: resource["rules"]["maxConcurrentCalls"],
        set_states=set_states,
        expected=lambda available: max(1, min(50, math.floor(available * Decimal("0.8")))),
        available=tenant.available_agents,
    )


def acd_harness(tenant: SandboxTenant, url: str, cache: Path) -> Harness:
    def set_states(available: int, busy: int) -> None:
        tenant.set_acd_agents(["Dialer"] * available + ["OutboundContact"] * busy)

    def expected(available: int) -> float:
        return 2.0 if available >= 15 else 1.5 if available >= 6 else 1.0

    return Harness(
        name="acd",
        tenant=tenant,
        # Exactly the variables the issue names: no API base, no profile name; the rest is discovered.
        env={
            "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
            "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
            "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
            "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "CXONE_ISSUER": url,
            "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
        },
        agents_path=ACD_AGENTS,
        target_path=ACD_SETTINGS,
        stored=lambda: tenant.skill_settings_copy(DEFAULT_SKILL_ID),
        value_of=lambda resource: resource["maximumRatio"],
        set_states=set_states,
        expected=expected,
        available=tenant.acd_available,
        window=Settings.model_fields["page_concurrency"].default,
    )
