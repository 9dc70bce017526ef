"""The acd contract's per-skill reads and the state behind them: who is assigned to a skill, its live counts and
its reporting figures.

- ``GET skills/{id}/agents``: ``agentSkillAssignments`` (offset paging with skip/top, ``totalRecords``,
  ``_links``; ``fields`` projects the rows), each with ``isActive`` (the assignment) and ``isSkillActive``.
- ``GET skills/{id}/activity``: ``skillActivity``, an array even for one skill (older versions, when the tenant's
  ``acd_result_set_wrapper`` is on: ``resultSet.skillActivity``), counted over the agents with an active
  assignment to the skill; ``activity_overrides`` lets a test make it disagree with that.
- ``GET skills/{id}/summary?startDate&endDate``: ``skillSummaries`` over a window, both dates required, in UTC
  with a literal ``Z`` (else 400), from a call log the tests drive (abandons and handled calls at given times).

With ``acd_numbers_as_strings`` on, every number of the activity and summary answers is sent as a string, as
some tenants do. Standard library only.
"""

from __future__ import annotations

import copy
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from .common import DEFAULT_PAGE_SIZE, ApiError, Exchange, error_body, first, int_param

# The skill each team works (generated tenants): an agent is assigned to its team's skills.
TEAM_SKILLS: dict[int, tuple[int, ...]] = {12: (4567,), 14: (4568,), 15: (4567, 4568), 18: (4571,)}
INACTIVE_SHARE = 0.1  # generated assignments that are switched off (isActive false)
MAX_SUMMARY_SPAN = timedelta(days=31)
# What the real API wants for startDate/endDate: UTC with a literal "Z" (some clients send offsets: refused).
_UTC_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z")
_AVAILABLE = ("Available", "Dialer")
_WORKING = frozenset({"InboundContact", "OutboundContact", "InboundConsult", "OutboundConsult"})


@dataclass(frozen=True)
class Calls:
    """Calls of a skill at one moment: how many live calls were abandoned and how many were handled."""

    at: datetime
    abandons: int
    handled: int


def parse_utc_z(name: str, raw: str | None) -> datetime:
    """A reporting date as the API takes it; ApiError 400 naming the parameter otherwise."""
    if raw is None or raw == "":
        raise ApiError(400, error_body("INVALID_VALUE", f"{name} is required", name))
    if _UTC_Z.fullmatch(raw) is None:
        raise ApiError(
            400,
            error_body("INVALID_VALUE", f"{name} must be a UTC date-time with a literal Z, got {raw!r}", name),
        )
    text = raw[:-1]
    if "." in text:  # fromisoformat before 3.11 takes 3 or 6 fraction digits only
        head, fraction = text.split(".")
        text = f"{head}.{(fraction + '000000')[:6]}"
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        raise ApiError(400, error_body("INVALID_VALUE", f"{name} is not a date-time: {raw!r}", name)) from None


def as_strings(value: Any) -> Any:
    """Every number (not bool) in ``value`` as a string, the way some tenants answer reporting calls."""
    if isinstance(value, dict):
        return {key: as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_strings(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


class SkillState:
    """Skill assignments, skill activity and the call log; a mixin of :class:`~cxone_sandbox.SandboxTenant`."""

    # Provided by the tenant.
    seed: int
    bu_id: int
    max_page_size: int
    acd_agents: list[dict[str, Any]]
    skills: dict[int, dict[str, Any]]
    acd_result_set_wrapper: bool
    _lock: threading.Lock

    def _init_skills(self) -> None:
        # skill id -> agent id -> {"isActive": bool, "proficiency": int}
        self.assignments: dict[int, dict[int, dict[str, Any]]] = {}
        self.activity_overrides: dict[int, dict[str, Any]] = {}  # merged into the activity answer
        self.call_log: dict[int, list[Calls]] = {}
        self.acd_numbers_as_strings = False  # activity and summary numbers as strings
        # (kind, skill) -> (the list or dict it was worked out from, its keys or length then, the result)
        self._skills_cache: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self.assign_by_team()

    # ----------------------------------------------------------------- assignments
    def _known_skill(self, skill_id: int) -> dict[str, Any]:
        # Caller holds the lock.
        skill = self.skills.get(skill_id)
        if skill is None:
            raise ApiError(404, error_body("NOT_FOUND", f"skill {skill_id} not found"))
        return skill

    def assign_by_team(self) -> None:
        """Assign every acd agent to its team's skills (``TEAM_SKILLS``); about one in ten assignments is
        inactive. Seeded: the same agents get the same assignments."""
        rng = random.Random(f"acd-skills:{self.seed}")
        with self._lock:
            assignments: dict[int, dict[int, dict[str, Any]]] = {skill: {} for skill in self.skills}
            for agent in self.acd_agents:
                for skill in TEAM_SKILLS.get(int(agent["teamId"]), ()):
                    active = rng.random() >= INACTIVE_SHARE
                    assignments.setdefault(skill, {})[agent["agentId"]] = {
                        "isActive": active,
                        "proficiency": rng.randint(1, 20),
                    }
            self.assignments = assignments

    def assign_agents(self, skill_id: int, agent_ids: list[int], inactive: list[int] | None = None) -> None:
        """Make exactly these agents the skill's (active), plus ``inactive`` ones whose assignment is off.
        ValueError for an agent id the tenant does not have; ApiError 404 for an unknown skill."""
        with self._lock:
            self._known_skill(skill_id)
            known = {agent["agentId"] for agent in self.acd_agents}
            unknown = sorted((set(agent_ids) | set(inactive or ())) - known)
            if unknown:
                raise ValueError(f"no such agents: {unknown[:5]}")
            rows = {agent_id: {"isActive": True, "proficiency": 1} for agent_id in agent_ids}
            rows.update({agent_id: {"isActive": False, "proficiency": 1} for agent_id in inactive or ()})
            self.assignments[skill_id] = rows

    def assign_everyone(self, skill_id: int) -> None:
        """Every acd agent on this skill, active, and nobody on any other (``set_acd_agents``' tenant)."""
        with self._lock:
            ids = [agent["agentId"] for agent in self.acd_agents]
            self.assignments = {skill: {} for skill in self.skills}
        self.assign_agents(skill_id, ids)

    def pool_agents(self, skill_id: int) -> list[dict[str, Any]]:
        """The acd agents with an active assignment to the skill (the skill itself being active)."""
        with self._lock:
            return [copy.deepcopy(agent) for agent in self._pool_rows(skill_id)]

    def _pool_rows(self, skill_id: int) -> list[dict[str, Any]]:
        """:meth:`pool_agents` without the copies, for a caller that holds the lock and only reads them."""
        skill = self.skills.get(skill_id)
        if skill is None or skill.get("isActive") is False:
            return []
        active = {agent_id for agent_id, row in self.assignments.get(skill_id, {}).items() if row["isActive"]}
        return [agent for agent in self.acd_agents if agent["agentId"] in active]

    def pool_available(self, skill_id: int, names: tuple[str, ...] = _AVAILABLE) -> int:
        """How many of the skill's pool are in one of these states."""
        return sum(1 for agent in self.pool_agents(skill_id) if agent["agentStateName"] in names)

    def assignments_page(self, skill_id: int, skip: int, top: int) -> tuple[list[dict[str, Any]], int]:
        """Rows ``skip``..``skip+top`` of the skill's assignments (by agent id), and how many there are.

        The order and the agents by id are worked out once per assignment list and agent list, not on every page
        (it sorted every assignment and indexed every agent for each page: about 60 ms a page at 100,000 agents,
        the sandbox's own time, which no tenant spends on the client's machine)."""
        with self._lock:
            skill = self._known_skill(skill_id)
            rows = self.assignments.get(skill_id, {})
            order = self._cached("order", skill_id, rows, lambda: sorted(rows, key=lambda a: str(a).zfill(20)))
            agents = self._cached("agents", 0, self.acd_agents, lambda: {a["agentId"]: a for a in self.acd_agents})
            page = order[skip : skip + top]
            return [_assignment(skill_id, skill, agents.get(a), a, rows[a]) for a in page], len(rows)

    def _cached(self, kind: str, key: int, source: Any, work: Callable[[], Any]) -> Any:
        """``work()`` for ``source`` (a dict or list the caller holds the lock on), again only when ``source`` is
        another object, or holds other entries than when it was worked out (its keys, or its length for a list)."""
        cached = self._skills_cache.get((kind, key))
        if cached is not None and cached[0] is source:
            same = source.keys() == cached[1] if isinstance(source, dict) else len(source) == cached[1]
            if same:
                return cached[2]
        shape = frozenset(source) if isinstance(source, dict) else len(source)
        result = work()
        self._skills_cache[(kind, key)] = (source, shape, result)
        return result

    # ----------------------------------------------------------------- activity
    def skill_activity(self, skill_id: int) -> dict[str, Any]:
        """Live counts of a skill over its pool (``pool_agents``); ApiError 404 when unknown.

        agentsAvailable = Available + Dialer; agentsWorking = on a contact or consult; agentsACW = in after-call
        work; agentsUnavailable = Unavailable but not ACW; agentsLoggedIn = all but LoggedOut. Then any
        ``activity_overrides`` of the skill.
        """
        with self._lock:
            skill = dict(self._known_skill(skill_id))
            overrides = dict(self.activity_overrides.get(skill_id, {}))
            agents = self._pool_rows(skill_id)  # read here, under the lock: no copy of each agent
            names = [str(agent["agentStateName"]) for agent in agents]
            acw = sum(1 for agent in agents if agent["isACW"])
        working = sum(1 for name in names if name in _WORKING)
        return {
            "serverTime": _now_text(),
            "businessUnitId": self.bu_id,
            "skillId": skill_id,
            "skillName": skill["skillName"],
            "isOutbound": skill["isOutbound"],
            "isActive": skill.get("isActive", True),
            "campaignId": 0,
            "mediaTypeId": 4,
            "mediaTypeName": "Phone Call",
            "agentsAvailable": sum(1 for name in names if name in _AVAILABLE),
            "agentsIdle": 0,
            "agentsWorking": working,
            "agentsLoggedIn": sum(1 for name in names if name != "LoggedOut"),
            "agentsUnavailable": names.count("Unavailable") - acw,
            "agentsACW": acw,
            "queueCount": skill["queueCount"],
            "contactsActive": working,
            **overrides,
        }

    def override_activity(self, skill_id: int, values: dict[str, Any]) -> None:
        """Merge ``values`` into the skill's activity answers from now on (empty: back to the counted ones)."""
        with self._lock:
            self._known_skill(skill_id)
            if values:
                self.activity_overrides.setdefault(skill_id, {}).update(copy.deepcopy(values))
            else:
                self.activity_overrides.pop(skill_id, None)

    # ----------------------------------------------------------------- the call log
    def add_calls(
        self, skill_id: int, abandons: int, handled: int, *, at: datetime | None = None, seconds_ago: float = 0
    ) -> None:
        """Log live calls of the skill: ``abandons`` abandoned and ``handled`` handled, at ``at`` (default: now
        minus ``seconds_ago``). ValueError for negative counts."""
        if abandons < 0 or handled < 0:
            raise ValueError("abandons and handled must be >= 0")
        when = at if at is not None else datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)
        with self._lock:
            self._known_skill(skill_id)
            self.call_log.setdefault(skill_id, []).append(Calls(when.astimezone(timezone.utc), abandons, handled))

    def clear_calls(self, skill_id: int | None = None) -> None:
        with self._lock:
            if skill_id is None:
                self.call_log.clear()
            else:
                self.call_log.pop(skill_id, None)

    def calls_between(self, skill_id: int, start: datetime, end: datetime) -> tuple[int, int]:
        """(abandons, handled) logged for the skill at ``start`` <= time < ``end``."""
        with self._lock:
            hits = [c for c in self.call_log.get(skill_id, []) if start <= c.at < end]
        return sum(c.abandons for c in hits), sum(c.handled for c in hits)

    def skill_summary(self, skill_id: int, start: datetime, end: datetime) -> dict[str, Any]:
        """One ``skillSummaries`` entry for the window; ApiError 404 for an unknown skill."""
        with self._lock:
            skill = dict(self._known_skill(skill_id))
        abandons, handled = self.calls_between(skill_id, start, end)
        live = abandons + handled
        return {
            "businessUnitId": self.bu_id,
            "skillId": skill_id,
            "skillName": skill["skillName"],
            "isOutbound": skill["isOutbound"],
            "campaignId": 0,
            "mediaTypeId": 4,
            "mediaTypeName": "Phone Call",
            "abandonCount": abandons,
            # A percentage with two decimals here; whether the real field is a percent or a fraction is unknown.
            "abandonRate": round(100 * abandons / live, 2) if live else 0,
            "contactsHandled": handled,
            "contactsOffered": live,
            "contactsQueued": 0,
            "dials": live * 4,
            "connects": live,
            "rightPartyConnects": handled,
            "averageHandleTime": "00:03:12",
        }


def _now_text() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _assignment(
    skill_id: int, skill: dict[str, Any], agent: dict[str, Any] | None, agent_id: int, row: dict[str, Any]
) -> dict[str, Any]:
    agent = agent or {}
    outbound = bool(skill["isOutbound"])
    return {
        "agentId": agent_id,
        "firstName": agent.get("firstName", ""),
        "middleName": "",
        "lastName": agent.get("lastName", ""),
        "agentProficiencyValue": row["proficiency"],
        "agentProficiencyName": str(row["proficiency"]),
        "campaignId": 0,
        "campaignName": "",
        "emailFromAddress": "",
        "internalId": "",
        "isActive": row["isActive"],
        "isSkillActive": skill.get("isActive", True),
        "isDialer": outbound,
        "isNaturalCalling": False,
        "isNaturalCallingRunning": False,
        "isOutbound": outbound,
        "lastUpdateTime": agent.get("lastUpdateTime", ""),
        "mediaTypeId": 4,
        "mediaTypeName": "Phone Call",
        "notes": "",
        "outboundStrategy": "Personal Connection" if outbound else "",
        "priorityBlending": False,
        "requireDisposition": False,
        "scriptDisposition": False,
        "skillId": skill_id,
        "skillName": skill["skillName"],
        "teamId": agent.get("teamId", 0),
        "teamName": agent.get("teamName", ""),
        "useACW": True,
        "useDisposition": False,
        "useSecondaryDispositions": False,
        "screenPopTriggerEvent": "",
    }


# ------------------------------------------------------------------ routes (called by acd._api)
def assignments(ex: Exchange, skill_id: int) -> dict[str, Any]:
    """``GET skills/{id}/agents``: offset paging with skip/top, totalRecords and _links; ``fields`` projects the
    rows; ``updatedSince``, ``searchString`` and ``orderBy`` are accepted and ignored."""
    tenant = ex.tenant
    params = parse_qs(ex.query, keep_blank_values=True)
    top = int_param(params, "top", DEFAULT_PAGE_SIZE, 1, tenant.max_page_size)
    skip = int_param(params, "skip", 0, 0, None)
    rows, total = tenant.assignments_page(skill_id, skip, top)
    fields = [f.strip() for f in (first(params, "fields") or "").split(",") if f.strip()]
    if fields:
        rows = [{key: row[key] for key in fields if key in row} for row in rows]
    kept = [(k, v) for k, values in params.items() if k not in ("skip", "top") for v in values]

    def link(at: int) -> str:
        return f"{ex.base_url}{ex.path}?{urlencode([*kept, ('skip', str(at)), ('top', str(top))])}"

    return {
        "_links": {
            "self": link(skip),
            "next": link(skip + top) if skip + top < total else None,
            "previous": link(max(0, skip - top)) if skip > 0 else None,
        },
        "lastPollTime": _now_text(),
        "businessUnitId": tenant.bu_id,
        "totalRecords": total,
        "agentSkillAssignments": rows,
    }


def activity(ex: Exchange, skill_id: int) -> dict[str, Any]:
    """``GET skills/{id}/activity``: ``{"lastPollTime", "skillActivity": [one entry]}`` (``resultSet``-wrapped
    on older versions)."""
    tenant = ex.tenant
    entry = tenant.skill_activity(skill_id)
    if tenant.acd_numbers_as_strings:
        entry = as_strings(entry)
    body = {"lastPollTime": _now_text(), "skillActivity": [entry]}
    return {"resultSet": body} if tenant.acd_result_set_wrapper else body


def summary(ex: Exchange, skill_id: int) -> dict[str, Any]:
    """``GET skills/{id}/summary?startDate&endDate``: both required, UTC with a literal Z, start before end and
    at most 31 days apart (else 400)."""
    tenant = ex.tenant
    params = parse_qs(ex.query, keep_blank_values=True)
    start = parse_utc_z("startDate", first(params, "startDate"))
    end = parse_utc_z("endDate", first(params, "endDate"))
    if end <= start:
        raise ApiError(400, error_body("INVALID_VALUE", "endDate must be after startDate", "endDate"))
    if end - start > MAX_SUMMARY_SPAN:
        raise ApiError(400, error_body("INVALID_VALUE", "startDate and endDate cannot span more than 31 days"))
    entry = tenant.skill_summary(skill_id, start, end)
    return {"skillSummaries": [as_strings(entry) if tenant.acd_numbers_as_strings else entry]}
