"""The control endpoints under ``/_sandbox/``: how tests and operators steer the sandbox over HTTP.

- ``GET state``: a JSON snapshot (campaigns, request log, agent counts, faults, tokens issued, ...);
- ``POST faults`` (a :class:`~cxone_sandbox.faults.Fault` as JSON) / ``DELETE faults``;
- ``POST agents`` (``{"states": [...]}`` or ``{"count": n}``), ``POST acd-agents`` (``{"states": [...]}``);
- ``POST agents/{userId}``, ``POST acd-agents/{agentId}`` (``{"state": ..., "teamId": ...}``, either or both):
  one agent changes as it would on the tenant (acd: ``lastUpdateTime`` now, so ``updatedSince`` polls see it);
- ``POST tokens/revoke``, ``tokens/expire``, ``tokens/revoke-refresh``; ``DELETE requests`` (the counts);
- ``POST campaigns/{id}/edit``, ``POST skills/{id}/edit``: deep-merge a patch as another writer.

They need no token and are not recorded in the request log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from .common import Answer, ApiError, Exchange, error_body, json_answer, json_object, method_not_allowed, only
from .faults import Fault

CONTROL_PREFIX = "/_sandbox/"
_OK = {"ok": True}


def route(ex: Exchange) -> Answer:
    tenant, method = ex.tenant, ex.method
    path = ex.path
    route = path[len(CONTROL_PREFIX) :].rstrip("/")
    if route == "state":
        only(method, "GET")
        return json_answer(200, tenant.snapshot())
    if route == "faults":
        if method == "DELETE":
            tenant.clear_faults()
            return json_answer(200, _OK)
        if method == "POST":
            try:
                fault = Fault(**json_object(ex.body))
            except (TypeError, ValueError) as exc:
                raise ApiError(400, error_body("INVALID_VALUE", f"bad fault: {exc}")) from None
            tenant.add_fault(fault)
            return json_answer(200, _OK)
        raise method_not_allowed("POST, DELETE")
    if route == "agents":
        only(method, "POST")
        data = json_object(ex.body)
        states, count = data.get("states"), data.get("count")
        if isinstance(states, list) and all(isinstance(s, str) for s in states):
            tenant.set_agent_states(states)
        elif isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            tenant.set_agent_count(count)
        else:
            raise ApiError(400, error_body("INVALID_VALUE", 'expected {"states": [str]} or {"count": n}'))
        return json_answer(200, _OK)
    if route == "acd-agents":
        only(method, "POST")
        states = json_object(ex.body).get("states")
        if not (isinstance(states, list) and all(isinstance(s, str) for s in states)):
            raise ApiError(400, error_body("INVALID_VALUE", 'expected {"states": [agentStateName, ...]}'))
        try:
            tenant.set_acd_agents(states)
        except ValueError as exc:
            raise ApiError(400, error_body("INVALID_VALUE", str(exc))) from None
        return json_answer(200, _OK)
    if route in ("tokens/revoke", "tokens/expire", "tokens/revoke-refresh"):
        only(method, "POST")
        if route == "tokens/revoke":
            tenant.revoke_all_tokens()
        elif route == "tokens/expire":
            tenant.expire_all_tokens()
        else:
            tenant.revoke_refresh_tokens()
        return json_answer(200, _OK)
    if route == "requests":
        only(method, "DELETE")
        tenant.reset_counts()
        return json_answer(200, _OK)
    parts = route.split("/")
    if len(parts) == 2 and parts[0] in ("agents", "acd-agents"):
        only(method, "POST")
        return json_answer(200, _change_agent(ex, parts[0], unquote(parts[1])))
    if len(parts) == 3 and parts[0] == "campaigns" and parts[2] == "edit":
        only(method, "POST")
        return json_answer(200, tenant.merge_campaign(unquote(parts[1]), json_object(ex.body)))
    if len(parts) == 3 and parts[0] == "skills" and parts[2] == "edit":
        only(method, "POST")
        if not parts[1].isdigit():
            raise ApiError(404, error_body("NOT_FOUND", f"skill {unquote(parts[1])} not found"))
        return json_answer(200, tenant.merge_skill_settings(int(parts[1]), json_object(ex.body)))
    raise ApiError(404, error_body("NOT_FOUND", f"no such control endpoint: {path}"))


def _change_agent(ex: Exchange, contract: str, agent: str) -> dict[str, Any]:
    """One agent's state or team changed: the agent's row as it now is."""
    data = json_object(ex.body)
    state, team = data.get("state"), data.get("teamId")
    if (state is None and team is None) or not (state is None or isinstance(state, str)):
        raise ApiError(400, error_body("INVALID_VALUE", 'expected {"state": str, "teamId": ...} (either or both)'))
    try:
        if contract == "agents":
            if not (team is None or isinstance(team, str)):
                raise ValueError("teamId must be a string")
            return ex.tenant.set_agent(agent, state, team)
        if not agent.isdigit() or not (team is None or (isinstance(team, int) and not isinstance(team, bool))):
            raise ValueError("agentId and teamId are numbers")
        return ex.tenant.set_acd_agent(int(agent), state, team)
    except KeyError:
        raise ApiError(404, error_body("NOT_FOUND", f"no agent {agent!r}")) from None
    except ValueError as exc:
        raise ApiError(400, error_body("INVALID_VALUE", str(exc))) from None
