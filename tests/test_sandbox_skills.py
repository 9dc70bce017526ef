"""The sandbox's per-skill reads (acd): assignments, activity and summary, their state, and the control endpoints
that drive them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from cxone_sandbox import DEFAULT_SKILL_ID, Fault, SandboxTenant
from tests.test_sandbox_acd import BARE, BASE, JSON, login

SKILL = f"{BASE}/skills/{DEFAULT_SKILL_ID}"


@pytest.fixture
def acd(client: httpx.Client) -> httpx.Client:
    """The raw client, authenticated and with the Accept header the real API needs."""
    client.headers["Authorization"] = f"Bearer {login(client)['access_token']}"
    client.headers.update(JSON)
    return client


def z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(minutes: float) -> dict[str, str]:
    now = datetime.now(timezone.utc)
    return {"startDate": z(now - timedelta(minutes=minutes)), "endDate": z(now + timedelta(seconds=1))}


def all_assignments(acd: httpx.Client, top: int, skill: int = DEFAULT_SKILL_ID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    url: str | None = f"{BASE}/skills/{skill}/agents?top={top}"
    while url:
        resp = acd.get(url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows += body["agentSkillAssignments"]
        url = body["_links"]["next"]
    assert len(rows) == body["totalRecords"]
    return rows


# ---------------------------------------------------------------------------- the generated tenant


def test_the_generated_tenant_has_agents_of_other_skills() -> None:
    tenant = SandboxTenant(agents=300, seed=1)
    pool = tenant.pool_agents(DEFAULT_SKILL_ID)
    assert 0 < len(pool) < 300
    assert tenant.pool_available(DEFAULT_SKILL_ID) < tenant.acd_available()
    inactive = [row for row in tenant.assignments[DEFAULT_SKILL_ID].values() if not row["isActive"]]
    assert inactive, "some assignments are switched off, so isActive matters"
    assert len(pool) == len(tenant.assignments[DEFAULT_SKILL_ID]) - len(inactive)
    again = SandboxTenant(agents=300, seed=1)
    assert again.assignments == tenant.assignments  # seeded


def test_set_acd_agents_puts_everyone_on_the_steered_skill_only(tenant: SandboxTenant) -> None:
    tenant.set_acd_agents(["Dialer", "Available", "LoggedOut"])
    assert len(tenant.pool_agents(DEFAULT_SKILL_ID)) == 3
    assert tenant.pool_available(DEFAULT_SKILL_ID) == 2
    assert all(not rows for skill, rows in tenant.assignments.items() if skill != DEFAULT_SKILL_ID)


def test_set_pool_states_changes_the_pools_states_in_place_and_keeps_every_assignment(tenant: SandboxTenant) -> None:
    """What the demo churns with: the skill's agents change state, who is assigned stays (set_acd_agents, which
    the tests use to set exact pool counts, makes a new tenant whose pool is everyone)."""
    assignments = {skill: dict(rows) for skill, rows in tenant.assignments.items()}
    pool = sorted(agent["agentId"] for agent in tenant.pool_agents(DEFAULT_SKILL_ID))
    others = {a["agentId"]: dict(a) for a in tenant.acd_agents if a["agentId"] not in pool}
    assert 0 < len(pool) < len(tenant.acd_agents)
    states = ["Dialer"] * 3 + ["OutboundContact"] * 2 + ["ACW", "Unavailable"]
    tenant.set_pool_states(DEFAULT_SKILL_ID, states)
    assert tenant.assignments == assignments
    assert sorted(agent["agentId"] for agent in tenant.pool_agents(DEFAULT_SKILL_ID)) == pool
    rows = {agent["agentId"]: agent for agent in tenant.pool_agents(DEFAULT_SKILL_ID)}
    shown = ["ACW" if rows[i]["isACW"] else rows[i]["agentStateName"] for i in sorted(pool, key=lambda i: f"{i:>20}")]
    assert shown[: len(states)] == states
    assert tenant.pool_available(DEFAULT_SKILL_ID) == 3 + sum(s in ("Available", "Dialer") for s in shown[7:])
    assert {a["agentId"]: a for a in tenant.acd_agents if a["agentId"] not in pool} == others  # the rest untouched
    assert tenant.set_pool_states(DEFAULT_SKILL_ID, states) == 0  # the same states again: no row changes
    with pytest.raises(ValueError, match="states for the"):
        tenant.set_pool_states(DEFAULT_SKILL_ID, ["Dialer"] * (len(pool) + 1))


# ---------------------------------------------------------------------------- GET skills/{id}/agents


@pytest.mark.parametrize("top", [1, 7, 100])
def test_assignments_page_with_skip_and_top(acd: httpx.Client, tenant: SandboxTenant, top: int) -> None:
    rows = all_assignments(acd, top)
    ids = [row["agentId"] for row in rows]
    assert ids == sorted(tenant.assignments[DEFAULT_SKILL_ID]) and len(set(ids)) == len(ids)
    first = rows[0]
    assert {"agentId", "isActive", "isSkillActive", "isDialer", "skillId", "agentProficiencyValue"} <= set(first)
    assert first["skillId"] == DEFAULT_SKILL_ID and first["isDialer"] is True
    active = {row["agentId"] for row in rows if row["isActive"]}
    assert active == {int(agent["agentId"]) for agent in tenant.pool_agents(DEFAULT_SKILL_ID)}


def test_assignment_pages_follow_every_change_of_the_lists(tenant: SandboxTenant) -> None:
    """The order and the agents by id are worked out once per list (not per page), and again after any change."""
    rows = tenant.assignments[DEFAULT_SKILL_ID]
    page, total = tenant.assignments_page(DEFAULT_SKILL_ID, 0, 1000)
    assert [row["agentId"] for row in page] == sorted(rows) and total == len(rows)
    gone = min(rows)
    rows[gone + 10_000] = rows.pop(gone)  # one agent off, another on: as many rows as before
    page, total = tenant.assignments_page(DEFAULT_SKILL_ID, 0, 1000)
    assert [row["agentId"] for row in page] == sorted(rows) and total == len(rows)
    tenant.set_acd_agents(["Dialer", "Available"])  # a new agent list, everyone on the skill
    page, total = tenant.assignments_page(DEFAULT_SKILL_ID, 0, 1000)
    names = {agent["agentId"]: agent["firstName"] for agent in tenant.acd_agents}
    assert [(row["agentId"], row["firstName"]) for row in page] == sorted(names.items()) and total == 2
    assert tenant.skill_activity(DEFAULT_SKILL_ID)["agentsAvailable"] == 2


def test_assignment_fields_projection_and_query_checks(acd: httpx.Client) -> None:
    body = acd.get(f"{SKILL}/agents", params={"fields": "agentId,isActive", "top": 2}).json()
    assert [set(row) for row in body["agentSkillAssignments"]] == [{"agentId", "isActive"}] * 2
    assert "fields=agentId%2CisActive" in body["_links"]["next"]
    assert acd.get(f"{SKILL}/agents", params={"top": 0}).status_code == 400
    assert acd.get(f"{SKILL}/agents", params={"skip": -1}).status_code == 400
    assert acd.get(f"{BASE}/skills/999/agents").status_code == 404
    assert acd.post(f"{SKILL}/agents").status_code == 405


def test_an_inactive_skill_has_no_pool(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.skills[DEFAULT_SKILL_ID]["isActive"] = False
    rows = all_assignments(acd, 100)
    assert rows and all(row["isSkillActive"] is False for row in rows)
    assert tenant.pool_agents(DEFAULT_SKILL_ID) == []


# ---------------------------------------------------------------------------- GET skills/{id}/activity


def test_activity_counts_the_pool_and_takes_overrides(acd: httpx.Client, tenant: SandboxTenant) -> None:
    body = acd.get(f"{SKILL}/activity").json()
    assert set(body) == {"lastPollTime", "skillActivity"}
    (entry,) = body["skillActivity"]
    assert entry["agentsAvailable"] == tenant.pool_available(DEFAULT_SKILL_ID) != tenant.acd_available()
    resp = acd.post(f"/_sandbox/skills/{DEFAULT_SKILL_ID}/activity", json={"agentsAvailable": 99}, headers=BARE)
    assert resp.status_code == 200
    assert acd.get(f"{SKILL}/activity").json()["skillActivity"][0]["agentsAvailable"] == 99
    acd.post(f"/_sandbox/skills/{DEFAULT_SKILL_ID}/activity", json={}, headers=BARE)
    again = acd.get(f"{SKILL}/activity").json()["skillActivity"][0]
    assert {**again, "serverTime": ""} == {**entry, "serverTime": ""}  # the counted figures again


def test_activity_older_wrapper_and_numbers_as_strings(acd: httpx.Client) -> None:
    options = acd.post("/_sandbox/acd-options", json={"resultSetWrapper": True, "numbersAsStrings": True}, headers=BARE)
    assert options.json() == {"numbersAsStrings": True, "resultSetWrapper": True, "putReturns204": False}
    body = acd.get(f"{SKILL}/activity").json()
    entry = body["resultSet"]["skillActivity"][0]
    assert isinstance(entry["agentsAvailable"], str) and entry["agentsAvailable"].isdigit()
    assert entry["isOutbound"] is True  # booleans stay booleans
    assert acd.post("/_sandbox/acd-options", json={"nope": True}, headers=BARE).status_code == 400
    assert acd.post("/_sandbox/acd-options", json={"numbersAsStrings": 1}, headers=BARE).status_code == 400


# ---------------------------------------------------------------------------- GET skills/{id}/summary


def test_summary_sums_the_calls_in_the_window(acd: httpx.Client, tenant: SandboxTenant) -> None:
    tenant.add_calls(DEFAULT_SKILL_ID, 3, 97, seconds_ago=60)  # in the last 30 minutes
    tenant.add_calls(DEFAULT_SKILL_ID, 5, 195, seconds_ago=3 * 3600)  # earlier
    tenant.add_calls(4568, 50, 50)  # another skill's
    short = acd.get(f"{SKILL}/summary", params=window(30)).json()["skillSummaries"][0]
    assert (short["abandonCount"], short["contactsHandled"], short["abandonRate"]) == (3, 97, 3.0)
    day = acd.get(f"{SKILL}/summary", params=window(24 * 60)).json()["skillSummaries"][0]
    assert (day["abandonCount"], day["contactsHandled"]) == (8, 292)
    acd.post("/_sandbox/acd-options", json={"numbersAsStrings": True}, headers=BARE)
    text = acd.get(f"{SKILL}/summary", params=window(30)).json()["skillSummaries"][0]
    assert (text["abandonCount"], text["contactsHandled"]) == ("3", "97")


def test_summary_calls_through_the_control_api(acd: httpx.Client, tenant: SandboxTenant) -> None:
    calls = f"/_sandbox/skills/{DEFAULT_SKILL_ID}/calls"
    assert acd.post(calls, json={"abandons": 2, "handled": 8, "secondsAgo": 120}, headers=BARE).status_code == 200
    assert acd.get("/_sandbox/state", headers=BARE).json()["calls"] == {str(DEFAULT_SKILL_ID): [2, 8]}
    assert acd.get(f"{SKILL}/summary", params=window(30)).json()["skillSummaries"][0]["abandonCount"] == 2
    assert acd.get(f"{SKILL}/summary", params=window(1)).json()["skillSummaries"][0]["abandonCount"] == 0
    assert acd.post(calls, json={"abandons": -1}, headers=BARE).status_code == 400
    assert acd.post(calls, json={"secondsAgo": "x"}, headers=BARE).status_code == 400
    assert acd.delete(calls, headers=BARE).status_code == 200
    assert acd.get(f"{SKILL}/summary", params=window(30)).json()["skillSummaries"][0]["abandonCount"] == 0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"endDate": "2025-03-03T12:00:00Z"}, "startDate is required"),
        ({"startDate": "2025-03-03T11:00:00Z"}, "endDate is required"),
        ({"startDate": "2025-03-03T11:00:00+00:00", "endDate": "2025-03-03T12:00:00Z"}, "literal Z"),
        ({"startDate": "2025-03-03T11:00:00", "endDate": "2025-03-03T12:00:00Z"}, "literal Z"),
        ({"startDate": "2025-03-03", "endDate": "2025-03-04"}, "literal Z"),
        ({"startDate": "2025-02-30T11:00:00Z", "endDate": "2025-03-03T12:00:00Z"}, "not a date-time"),
        ({"startDate": "2025-03-03T12:00:00Z", "endDate": "2025-03-03T12:00:00Z"}, "after startDate"),
        ({"startDate": "2025-01-01T00:00:00Z", "endDate": "2025-03-03T12:00:00Z"}, "31 days"),
    ],
)
def test_summary_dates_are_required_in_utc_with_a_literal_z(
    acd: httpx.Client, params: dict[str, str], named: str
) -> None:
    resp = acd.get(f"{SKILL}/summary", params=params)
    assert resp.status_code == 400
    assert named in resp.json()["errors"][0]["message"]


def test_summary_takes_milliseconds_and_404s_an_unknown_skill(acd: httpx.Client) -> None:
    params = {"startDate": "2025-03-03T11:00:00.000Z", "endDate": "2025-03-03T12:00:00.5Z"}
    assert acd.get(f"{SKILL}/summary", params=params).status_code == 200
    assert acd.get(f"{BASE}/skills/999/summary", params=params).status_code == 404
    assert acd.get(f"{BASE}/skills/x/summary", params=params).status_code == 404


# ---------------------------------------------------------------------------- faults and control


@pytest.mark.parametrize("read", ["agents", "activity", "summary"])
def test_faults_apply_to_the_new_reads(acd: httpx.Client, tenant: SandboxTenant, read: str) -> None:
    path = f"{SKILL}/{read}"
    params = window(30) if read == "summary" else {}
    tenant.add_fault(Fault("status", status=503, path=path))
    assert acd.get(path, params=params).status_code == 503
    tenant.add_fault(Fault("wrong_type", path=path, field="lastPollTime", value=7))
    assert acd.get(path, params=params).json()["lastPollTime"] == 7
    tenant.add_fault(Fault("malformed", path=path))
    assert acd.get(path, params=params).content == b'{"items": ['
    assert acd.get(path, params=params).status_code == 200  # each fault hit once


def test_assignment_control(acd: httpx.Client, tenant: SandboxTenant) -> None:
    control = f"/_sandbox/skills/{DEFAULT_SKILL_ID}/agents"
    assert acd.post(control, json={"count": 5}, headers=BARE).status_code == 200
    assert len(tenant.pool_agents(DEFAULT_SKILL_ID)) == 5
    body = {"agentIds": [1001, 1002], "inactiveIds": [1003]}
    assert acd.post(control, json=body, headers=BARE).status_code == 200
    rows = all_assignments(acd, 10)
    assert [(row["agentId"], row["isActive"]) for row in rows] == [(1001, True), (1002, True), (1003, False)]
    assert acd.get("/_sandbox/state", headers=BARE).json()["skillPools"][str(DEFAULT_SKILL_ID)] == 2
    assert acd.post(control, json={"agentIds": [1]}, headers=BARE).status_code == 400
    assert acd.post(control, json={"agentIds": "1001"}, headers=BARE).status_code == 400
    assert acd.post(control, json={"count": -1}, headers=BARE).status_code == 400
    assert acd.post("/_sandbox/skills/999/agents", json={"count": 1}, headers=BARE).status_code == 404
    assert acd.post("/_sandbox/skills/x/calls", json={}, headers=BARE).status_code == 404
