"""The sandbox tenant: the state both contracts share (client, tokens, request log, faults) and the whole tenant.

:class:`SandboxTenant` is the shared part plus one part per contract (``v2.V2State``, ``acd.AcdState``).
Pure data and logic, no HTTP. Every method that touches shared state takes the one ``threading.Lock``
because the HTTP layer serves each connection in its own thread; a route turns :class:`ApiError` into an
error answer.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from dataclasses import asdict
from typing import Any

from .acd import ACD_ACW, ACD_STATE_IDS, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_SKILL_ID, AcdState
from .faults import Fault
from .skills import SkillState
from .v2 import DEFAULT_CAMPAIGN_ID, V2State

# The one OAuth client both token endpoints accept.
DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"


def sandbox_env(url: str) -> dict[str, str]:
    """Every CXONE_* variable that points cxone-tune at the sandbox at ``url``, for both API profiles at once.

    The sandbox's own well-known demo credentials, not secrets of any real tenant.
    """
    return {
        "CXONE_TENANT_URL": url,
        "CXONE_CAMPAIGN_ID": DEFAULT_CAMPAIGN_ID,
        "CXONE_CLIENT_ID": DEFAULT_CLIENT_ID,
        "CXONE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "CXONE_ISSUER": url,
        "CXONE_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID,
        "CXONE_ACCESS_KEY_SECRET": DEFAULT_ACCESS_KEY_SECRET,
        "CXONE_SKILL_ID": str(DEFAULT_SKILL_ID),
    }


class SandboxTenant(V2State, AcdState, SkillState):
    """Everything the sandbox tenant knows. Safe to use from many threads."""

    def __init__(
        self,
        agents: int = 40,
        seed: int = 1,
        token_ttl: int = 3600,
        min_limit: int = 1,
        max_limit: int = 50,
        max_page_size: int = 1000,
        latency: float = 0.0,
        min_ratio: float = 1.0,
        max_ratio: float = 5.0,
        min_calls_per_agent: int = 1,
        max_calls_per_agent: int = 10,
        acd_result_set_wrapper: bool = False,
        acd_put_returns_204: bool = False,
        acd_unchanged_status: int = 204,
    ) -> None:
        self.seed = seed
        self.token_ttl = token_ttl
        self.max_page_size = max_page_size  # largest pageSize (v2) and top (acd)
        self.latency = latency
        self.clients: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.requests: list[tuple[str, str]] = []
        self.states_fields: list[str | None] = []  # acd agents/states reads: the fields each asked for (None: all)
        self.faults: list[Fault] = []
        # Answers the client stopped reading before their end: (method, path, fault kind, body bytes sent).
        self.cut_answers: list[tuple[str, str, str, int]] = []
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}  # access token (both profiles) -> monotonic expiry
        self._lock = threading.Lock()
        # Requests being served right now (received, answer not yet sent), and the most at once since the
        # counts were last reset, by what the request is ("agents list", "token", ...; "other": none of these).
        self.in_flight: dict[str, int] = {}
        self.peak_in_flight: dict[str, int] = {}
        self._served = threading.Condition(self._lock)
        self._init_v2(agents, min_limit, max_limit)
        self._init_acd(
            agents,
            min_ratio,
            max_ratio,
            min_calls_per_agent,
            max_calls_per_agent,
            acd_result_set_wrapper,
            acd_put_returns_204,
            acd_unchanged_status,
        )
        self._init_skills()

    def set_agent_count(self, n: int) -> None:
        """Replace the agents of both profiles with ``n`` generated ones (same seed, same realistic mix)."""
        agents = self._generate_agents(n)
        acd_agents = self._generate_acd_agents(n)
        with self._lock:
            self.agents = agents
            self.acd_agents = acd_agents
        self.assign_by_team()

    def set_acd_agents(self, states: list[str]) -> None:
        """``AcdState.set_acd_agents``, and every one of those agents assigned (active) to DEFAULT_SKILL_ID: a
        predictable tenant whose pool is all of its agents. ``assign_agents`` narrows it."""
        AcdState.set_acd_agents(self, states)
        self.assign_everyone(DEFAULT_SKILL_ID)

    def move_pool_agents(self, skill_id: int, state: str, count: int) -> int:
        """Put up to ``count`` of the skill's pool (lowest agent ids first) who are not in ``state`` into it (an
        agentStateName); how many moved. ValueError for an unknown state name."""
        if state not in ACD_STATE_IDS:
            raise ValueError(f"unknown agent state {state!r}; expected one of {list(ACD_STATE_IDS)}")
        pool = {agent["agentId"] for agent in self.pool_agents(skill_id)}
        moved = 0
        with self._lock:
            for agent in sorted(self.acd_agents, key=lambda a: str(a["agentId"]).zfill(20)):
                if moved >= count:
                    break
                if agent["agentId"] in pool and agent["agentStateName"] != state:
                    agent.update(agentStateName=state, agentStateId=ACD_STATE_IDS[state], isACW=False)
                    agent.update(outStateId=0, outStateDescription="")
                    self._touched(agent)  # as the ACD does: an updatedSince poll sees the change
                    moved += 1
        return moved

    def set_pool_states(self, skill_id: int, states: list[str]) -> int:
        """Give the skill's pool (lowest agent ids first) these states, one agent each (agentStateName values or
        "ACW", as for ``set_acd_agents``), the way agents change state on a real tenant: in place, so who is
        assigned to which skill stays as it is (``set_acd_agents`` makes a new tenant whose pool is every agent).
        The pool's agents past the states given keep theirs. An agent whose state changes is updated now, so an
        ``updatedSince`` poll sees it; how many changed. ValueError for more states than the pool has agents, or
        an unknown state."""
        pool = sorted(self.pool_agents(skill_id), key=lambda agent: str(agent["agentId"]).zfill(20))
        if len(states) > len(pool):
            raise ValueError(f"{len(states)} states for the {len(pool)} agents of skill {skill_id}'s pool")
        changed = 0
        for agent, state in zip(pool, states, strict=False):
            if (ACD_ACW if agent["isACW"] else agent["agentStateName"]) != state:
                self.set_acd_agent(agent["agentId"], state)
                changed += 1
        return changed

    # ----------------------------------------------------------------- tokens
    def check_client(self, client_id: str | None, client_secret: str | None) -> bool:
        if client_id is None or client_secret is None:
            return False
        with self._lock:
            expected = self.clients.get(client_id)
        return expected is not None and secrets.compare_digest(expected, client_secret)

    def issue_token(self) -> tuple[str, int]:
        """A new random access token and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        return token, self.token_ttl

    def token_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke_all_tokens(self) -> None:
        """Revoke every access token (both profiles). Refresh tokens stay valid: see revoke_refresh_tokens."""
        with self._lock:
            self._tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Revoke every acd refresh token: the next refresh_token grant gets invalid_grant."""
        with self._lock:
            self._refresh_tokens.clear()

    def expire_all_tokens(self) -> None:
        """Tokens stay known but are past their expiry (a 401 for an expired, not unknown, token)."""
        with self._lock:
            past = time.monotonic() - 1.0
            for token in self._tokens:
                self._tokens[token] = past

    # ------------------------------------------------------------ request log
    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method.upper(), path))

    def record_states_fields(self, fields: str | None) -> None:
        """Note what an ``agents/states`` read asked for in ``fields`` (None: no such parameter)."""
        with self._lock:
            self.states_fields.append(fields)

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """How many recorded requests have this method (None = any) and path prefix."""
        with self._lock:
            return sum(
                1 for m, p in self.requests if (method is None or m == method.upper()) and p.startswith(path_prefix)
            )

    def reset_counts(self) -> None:
        """Clear the request log (and the fields the states reads asked for) and the in-flight peaks."""
        with self._lock:
            self.requests.clear()
            self.states_fields.clear()
            self.peak_in_flight = {key: count for key, count in self.in_flight.items() if count}

    # -------------------------------------------------------------- in flight
    def enter(self, role: str | None) -> str:
        """A request of this role is being served from now on; returns the key :meth:`leave` takes."""
        key = role or "other"
        with self._served:
            count = self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.peak_in_flight[key] = max(self.peak_in_flight.get(key, 0), count)
            self._served.notify_all()
        return key

    def leave(self, key: str) -> None:
        """The request's answer has been sent (or given up on)."""
        with self._served:
            self.in_flight[key] -= 1
            self._served.notify_all()

    def wait_in_flight(self, role: str | None, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests of this role have been served at once (the peak since the counts were
        reset), at most ``timeout`` seconds. The peak, not the count now: once they met, every one of them
        goes on, even one that only looks after the first have been answered."""
        key = role or "other"
        with self._served:
            return self._served.wait_for(lambda: self.peak_in_flight.get(key, 0) >= count, timeout)

    # ----------------------------------------------------------------- faults
    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str, role: str | None = None) -> Fault | None:
        """The first fault matching this request, with one of its ``times`` used up.

        ``role`` is what the contract says the request is (``v2.role``, ``acd.role``). A matching fault that
        still has ``after`` to wait out lets this request through (one ``after`` used up) and the search goes
        on with the next fault.
        """
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, role):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def note_cut(self, method: str, path: str, kind: str, sent: int) -> None:
        """The client went away before the end of an answer of this fault kind, after ``sent`` body bytes."""
        with self._lock:
            self.cut_answers.append((method.upper(), path, kind, sent))

    # --------------------------------------------------------------- snapshot
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view for ``GET /_sandbox/state``."""
        with self._lock:
            return {
                "campaigns": copy.deepcopy(self.campaigns),
                "requests": [[m, p] for m, p in self.requests],
                "agents": len(self.agents),
                "available": sum(1 for a in self.agents if str(a["state"]).lower() == "available"),
                "faults": [asdict(f) for f in self.faults],
                "tokensIssued": self.tokens_issued,
                "skillSettings": {str(k): copy.deepcopy(v) for k, v in self.skill_settings.items()},
                "acdAgents": len(self.acd_agents),
                "acdAvailable": sum(1 for a in self.acd_agents if a["agentStateName"] in ("Available", "Dialer")),
                "skillAssignments": {str(skill): len(rows) for skill, rows in self.assignments.items()},
                "skillPools": {
                    str(skill): sum(1 for row in rows.values() if row["isActive"])
                    for skill, rows in self.assignments.items()
                },
                "calls": {
                    str(skill): [sum(c.abandons for c in log), sum(c.handled for c in log)]
                    for skill, log in self.call_log.items()
                },
                "logins": self.logins,
                "refreshes": self.refreshes,
                "cutAnswers": [list(cut) for cut in self.cut_answers],
                "inFlightPeak": dict(self.peak_in_flight),
            }
