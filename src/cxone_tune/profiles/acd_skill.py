"""The acd profile's per-skill reads (issue 10): the skill's agent assignments, its activity and its summary.

Shapes as NICE's published specs show them (``../shared/api/acd-contract.md`` section 5): ``GET
skills/{id}/agents`` answers ``agentSkillAssignments`` (paged with skip/top where the tenant pages it),
``skills/{id}/activity`` answers ``skillActivity`` (an array even for one skill; older versions wrap it in
``resultSet``), ``skills/{id}/summary?startDate&endDate`` answers ``skillSummaries``. Some tenants send numbers
as strings: every count here takes ``12`` and ``"12"``, and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cxone_tune.abandon import Summary, utc_z
from cxone_tune.errors import ProtocolError
from cxone_tune.http import ApiClient, json_object, windowed
from cxone_tune.pool import AgentIds, AgentKey, Assignments, SkillActivity, agent_key
from cxone_tune.profiles.base import MAX_PAGES

ASSIGNMENT_FIELDS = "agentId,isActive,isSkillActive"


def count(value: Any, call: str, name: str) -> int:
    """A count as the acd API sends it (a whole number, or its ASCII digits as a string: the contract lets tenants
    send numbers as strings); ProtocolError (76) naming the call and the field else. The one parser of every acd
    count: the skill's reads here and ``totalRecords`` of ``agents/states`` (profiles/acd.py)."""
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdecimal():  # not "²" or "٣", which isdigit() and int() treat otherwise
            try:
                return int(text)
            except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
                pass
        raise ProtocolError(f"{call}: {name} is missing or not a count ({_shown(text)})")
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ProtocolError(f"{call}: {name} is missing or not a count ({type(value).__name__})")


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 20 else f"{len(text)} characters"


def flag(value: Any) -> bool | None:
    """A boolean as the API sends it (true, or "true"); None when it is neither a boolean nor one as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def unwrapped(body: dict[str, Any]) -> dict[str, Any]:
    """The answer's object, out of an older API version's ``resultSet`` wrapper when it has one."""
    wrapped = body.get("resultSet")
    return wrapped if isinstance(wrapped, dict) else body


def read_assignments(
    client: ApiClient, url: str, skill_id: int, page_size: int, call_name: Callable[[int], str], window: int = 1
) -> Assignments:
    """Every assignment of the skill, all pages. An agent counts when its assignment is active (``isActive``
    true) and the skill is not marked inactive (``isSkillActive`` false); a row without ``isActive`` does not
    count. Paging ends at ``totalRecords`` when the answer has it, else at an empty ``next`` link, else at a short
    page (or one that only repeats rows already read: an endpoint that does not page). A page that brings
    nothing new while ``totalRecords`` says more are due raises: never a partial pool.

    When the first page says ``totalRecords``, the pages after it (``skip`` = k x the rows the first page
    brought) are independent: with ``window`` above 1 they go out that many at a time (``http.windowed``) and are
    taken in order, as acd's agents pages are; a ``totalRecords`` that changes on the way, or a count that does
    not come to it, raises (nothing is written on a partial pool)."""
    pool = _Pool(skill_id)

    def get(number: int, skip: int) -> dict[str, Any]:
        call = call_name(number)
        params = {"skip": skip, "top": page_size, "fields": ASSIGNMENT_FIELDS}
        return unwrapped(json_object(client.request("GET", url, call=call, params=params), call))

    skip = pages = 0
    total: int | None = None
    while True:
        call = call_name(pages + 1)
        body = get(pages + 1, skip)
        pages += 1
        total_raw = body.get("totalRecords")
        if total_raw is not None:  # once said, it holds for the pages after it
            total = count(total_raw, call, "totalRecords")
        got, fresh = pool.take(body, call)
        skip += got
        links = body.get("_links")
        if total is not None:
            more = skip < total
        elif isinstance(links, dict) and "next" in links:
            more = bool(links["next"])
        else:
            more = got >= page_size
        if more and not fresh and total is None:
            break  # the endpoint does not page: the same rows again, and nothing says more are due
        if not more:
            if total is not None and len(pool.seen) != total:
                raise ProtocolError(
                    f"{call}: read {len(pool.seen)} assignments but totalRecords says {total}; writing nothing"
                )
            break
        if not fresh or pages >= MAX_PAGES:
            raise ProtocolError(f"{call}: the page did not advance (skip {skip} of {total}); writing nothing")
        if pages == 1 and total is not None and window > 1:
            pages = _the_rest(pool, get, call_name, total, got, window)
            break
    return Assignments(AgentIds(pool.seen, pool.inactive), len(pool.seen), pages)


class _Pool:
    """The assignments read so far: every agent id seen, and those none of whose rows is active."""

    def __init__(self, skill_id: int) -> None:
        self.skill_id = skill_id
        self.seen: set[AgentKey] = set()
        self.inactive: set[AgentKey] = set()

    def take(self, body: dict[str, Any], call: str) -> tuple[int, int]:
        """One page's rows: (how many, how many not seen before)."""
        rows = body.get("agentSkillAssignments")
        if not isinstance(rows, list):
            raise ProtocolError(f"{call}: the answer has no agentSkillAssignments list")
        skill_id, seen, inactive = self.skill_id, self.seen, self.inactive
        fresh = 0
        for row in rows:
            if not isinstance(row, dict):
                raise ProtocolError(f"{call}: an assignment is not an object")
            agent_id = row.get("agentId")
            if isinstance(agent_id, bool) or not isinstance(agent_id, (int, str)) or str(agent_id).strip() == "":
                raise ProtocolError(f"{call}: an assignment lacks agentId")
            key = agent_key(agent_id)
            if row.get("skillId") not in (None, skill_id, str(skill_id)):
                raise ProtocolError(f"{call}: an assignment is of skill {row.get('skillId')!r}, not {skill_id}")
            new = key not in seen
            fresh += new
            seen.add(key)
            if flag(row.get("isActive")) is True and flag(row.get("isSkillActive")) is not False:
                inactive.discard(key)  # one active row makes the agent active
            elif new:
                inactive.add(key)
        return len(rows), fresh


def _the_rest(
    pool: _Pool,
    get: Callable[[int, int], dict[str, Any]],
    call_name: Callable[[int], str],
    total: int,
    step: int,
    window: int,
) -> int:
    """Pages 2 to the last, ``window`` at a time, taken in order; how many pages were read in all."""
    last = -(-total // step)
    if last > MAX_PAGES:
        raise ProtocolError(f"{call_name(1)}: totalRecords {total} would take {last} pages of {step}; writing nothing")
    jobs = (functools.partial(get, number, (number - 1) * step) for number in range(2, last + 1))
    pages = 1
    with contextlib.closing(windowed(jobs, window)) as bodies:
        for pages, body in enumerate(bodies, 2):
            call = call_name(pages)
            said = body.get("totalRecords")
            if said is not None and count(said, call, "totalRecords") != total:
                raise ProtocolError(
                    f"{call}: totalRecords changed from {total} to {count(said, call, 'totalRecords')} while paging;"
                    " writing nothing"
                )
            _, fresh = pool.take(body, call)
            if not fresh and pages < last:
                raise ProtocolError(
                    f"{call}: the page did not advance (skip {(pages - 1) * step} of {total}); writing nothing"
                )
    if len(pool.seen) != total:
        raise ProtocolError(
            f"{call_name(pages)}: read {len(pool.seen)} assignments but totalRecords says {total}; writing nothing"
        )
    return pages


def read_activity(client: ApiClient, url: str, skill_id: int, call: str) -> SkillActivity:
    """The skill's entry of ``skillActivity`` (the one with its skillId, else the only one)."""
    body = unwrapped(json_object(client.request("GET", url, call=call), call))
    entries = body.get("skillActivity")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProtocolError(f"{call}: the answer has no skillActivity list")
    entry = _entry(entries, skill_id, call, "skillActivity")

    def optional(name: str) -> int | None:
        return None if entry.get(name) is None else count(entry.get(name), call, name)

    return SkillActivity(
        available=count(entry.get("agentsAvailable"), call, "agentsAvailable"),
        logged_in=optional("agentsLoggedIn"),
        working=optional("agentsWorking"),
        acw=optional("agentsACW"),
        unavailable=optional("agentsUnavailable"),
    )


def read_summary(client: ApiClient, url: str, skill_id: int, start: datetime, end: datetime, call: str) -> Summary:
    """Abandoned and handled calls from ``start`` to ``end`` (both sent in UTC with a literal Z)."""
    params = {"startDate": utc_z(start), "endDate": utc_z(end)}
    body = json_object(client.request("GET", url, call=call, params=params), call)
    entries = unwrapped(body).get("skillSummaries")
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProtocolError(f"{call}: the answer has no skillSummaries list")
    entry = _entry(entries, skill_id, call, "skillSummaries")
    abandons = count(entry.get("abandonCount"), call, "abandonCount")
    handled = count(entry.get("contactsHandled"), call, "contactsHandled")
    return Summary(abandons, handled, entry.get("abandonRate"))


def _entry(entries: list[dict[str, Any]], skill_id: int, call: str, name: str) -> dict[str, Any]:
    """The entry of the skill: the one whose skillId is it, else the only one; none is a ProtocolError."""
    mine = [entry for entry in entries if str(entry.get("skillId", "")).strip() == str(skill_id)]
    if mine:
        return mine[0]
    if len(entries) == 1 and entries[0].get("skillId") is None:
        return entries[0]
    raise ProtocolError(f"{call}: {name} has no entry for skill {skill_id}")
