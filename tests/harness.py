"""A harness per API profile: where its steered value lives and how to count its calls, so integration tests
are written once and run against both (the ``harness`` fixture in conftest.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
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
ACD_SKILL = f"{ACD_BASE}/skills/{DEFAULT_SKILL_ID}"
ACD_SETTINGS = f"{ACD_SKILL}/parameters/general-settings"
ACD_ASSIGNMENTS = f"{ACD_SKILL}/agents"
ACD_ACTIVITY = f"{ACD_SKILL}/activity"
ACD_SUMMARY = f"{ACD_SKILL}/summary"


def noon_zone(now: datetime | None = None) -> str:
    """An IANA zone (Etc/GMT+-N) where it is now between 11:00 and 13:00: "today since local midnight" then
    began hours ago and ends hours ahead, so calls logged minutes or an hour ago fall in it on any clock, and a
    test's compliance window never straddles midnight."""
    hour = (now or datetime.now(timezone.utc)).hour
    offset = 12 - hour  # hours east of UTC: local time = UTC + offset, about noon
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX signs: Etc/GMT-5 is UTC+5


V2_STATES = {"available": "available", "busy": "in-progress", "away": "unavailable"}
ACD_STATES = {"available": "Available", "busy": "OutboundContact", "away": "Unavailable"}


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
    set_mix: Callable[[int, int, int, int], None]  # (available, busy, after-call work, away)
    edit_value: Callable[[Any], object]  # another writer (a person in the UI) sets the steered value
    expected: Callable[[int], Any]  # the value the default policy picks for N available agents
    available: Callable[[], int]  # the available agents the run counts (acd: the steered skill's pool)
    # One agent (its id as the tool reads it) changes state: "available", "busy" or "away", as the API shows it.
    set_agent_state: Callable[[str, str], object]
    counted: Callable[[], int]  # every agent the run counts (acd: the steered skill's pool)
    # Every request of a run with a warm token cache and nothing to write, one page of agents each: group after
    # group, the requests of a group in any order (they go out together: acd's reads that do not need the agents
    # travel beside its assignments, ahead of the agents' page; cycle.compute).
    steady_reads: list[list[tuple[str, str]]]
    # Agents pages read at once: v2's token paging is one page after another; acd's offset pages after the
    # first are read CXONE_PAGE_CONCURRENCY at a time (its default here).
    window: int = 1

    def value(self) -> Any:
        return self.value_of(self.stored())

    def steady(self, requests: list[tuple[str, str]]) -> bool:
        """Whether ``requests`` are a steady run's (``steady_reads``): group after group, in any order within one."""
        sent = 0
        for group in self.steady_reads:
            if sorted(requests[sent : sent + len(group)]) != sorted(group):
                return False
            sent += len(group)
        return sent == len(requests)

    @property
    def steady_count(self) -> int:
        return sum(len(group) for group in self.steady_reads)

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

    def set_mix(available: int, busy: int, acw: int, away: int) -> None:
        tenant.set_agent_states(
            ["available"] * available + ["in-progress"] * busy + ["wrap-up"] * acw + ["unavailable"] * away
        )

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
        set_mix=set_mix,
        edit_value=lambda value: tenant.merge_campaign(DEFAULT_CAMPAIGN_ID, {"rules": {"maxConcurrentCalls": value}}),
        expected=lambda available: max(1, min(50, math.floor(available * Decimal("0.8")))),
        available=tenant.available_agents,
        set_agent_state=lambda agent_id, kind: tenant.set_agent(agent_id, V2_STATES[kind]),
        counted=lambda: len(tenant.agents),
        steady_reads=[[("GET", V2_AGENTS)], [("GET", V2_CAMPAIGN)]],
    )


def acd_harness(tenant: SandboxTenant, url: str, cache: Path) -> Harness:
    def set_states(available: int, busy: int) -> None:
        tenant.set_acd_agents(["Dialer"] * available + ["OutboundContact"] * busy)

    def set_mix(available: int, busy: int, acw: int, away: int) -> None:
        tenant.set_acd_agents(
            ["Dialer"] * available + ["OutboundContact"] * busy + ["ACW"] * acw + ["Unavailable"] * away
        )

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
        set_mix=set_mix,
        edit_value=lambda value: tenant.merge_skill_settings(DEFAULT_SKILL_ID, {"maximumRatio": value}),
        expected=expected,
        available=lambda: tenant.pool_available(DEFAULT_SKILL_ID),
        set_agent_state=lambda agent_id, kind: tenant.set_acd_agent(int(agent_id), ACD_STATES[kind]),
        counted=lambda: len(tenant.pool_agents(DEFAULT_SKILL_ID)),
        # The skill's assignments, its activity, its summary for the short and the compliance (today) window and
        # the settings (issue 10), together; then the agents.
        steady_reads=[
            [
                ("GET", ACD_ASSIGNMENTS),
                ("GET", ACD_ACTIVITY),
                ("GET", ACD_SUMMARY),
                ("GET", ACD_SUMMARY),
                ("GET", ACD_SETTINGS),
            ],
            [("GET", ACD_AGENTS)],
        ],
        window=Settings.model_fields["page_concurrency"].default,
    )
