"""A local sandbox NICE CXone tenant over real HTTP on 127.0.0.1, speaking both API profiles at once.

``v2`` (the design document's contract) under ``/oauth/token`` and ``/api/v2/``; ``acd`` (the real NICE
CXone API) under ``/.well-known/``, ``/auth/token`` and ``/inContactAPI/services/vNN.N/``; control
endpoints under ``/_sandbox/``. Used by ``cxone-tune sandbox`` and ``cxone-tune demo``, the integration
tests and the benchmarks. Standard library only; it imports nothing from cxone_tune.

The modules, one job each: ``server`` (HTTP plumbing), ``v2`` and ``acd`` (one API contract each: routes
and state), ``faults`` (every fault kind, its matching and its effect), ``control`` (the ``/_sandbox/``
endpoints), ``tenant`` (the state both contracts share, and :class:`SandboxTenant`), ``common`` (answers,
errors and parsing helpers the others share).

The names below are loaded on first use, so that importing ``cxone_sandbox.faults`` (as the CLI does to
list the fault kinds in its help) does not load the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .acd import (
        ACD_API_VERSION_DEFAULT,
        ACD_STATE_IDS,
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_ACCESS_KEY_SECRET,
        DEFAULT_SKILL_ID,
        DEFAULT_TENANT_ID,
    )
    from .faults import FAULT_KINDS, HUGE_DEFAULT_SIZE, Fault, alter_field
    from .server import SandboxServer
    from .tenant import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxTenant, sandbox_env
    from .v2 import AGENTS_PATH, CAMPAIGNS_PREFIX, DEFAULT_CAMPAIGN_ID, decode_page_token, encode_page_token

# public name -> the module that holds it
_HOMES = {
    "ACD_API_VERSION_DEFAULT": "acd",
    "ACD_STATE_IDS": "acd",
    "DEFAULT_ACCESS_KEY_ID": "acd",
    "DEFAULT_ACCESS_KEY_SECRET": "acd",
    "DEFAULT_SKILL_ID": "acd",
    "DEFAULT_TENANT_ID": "acd",
    "FAULT_KINDS": "faults",
    "HUGE_DEFAULT_SIZE": "faults",
    "Fault": "faults",
    "alter_field": "faults",
    "SandboxServer": "server",
    "DEFAULT_CLIENT_ID": "tenant",
    "DEFAULT_CLIENT_SECRET": "tenant",
    "SandboxTenant": "tenant",
    "sandbox_env": "tenant",
    "AGENTS_PATH": "v2",
    "CAMPAIGNS_PREFIX": "v2",
    "DEFAULT_CAMPAIGN_ID": "v2",
    "decode_page_token": "v2",
    "encode_page_token": "v2",
}

__all__ = [
    "ACD_API_VERSION_DEFAULT",
    "ACD_STATE_IDS",
    "AGENTS_PATH",
    "CAMPAIGNS_PREFIX",
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SKILL_ID",
    "DEFAULT_TENANT_ID",
    "FAULT_KINDS",
    "HUGE_DEFAULT_SIZE",
    "Fault",
    "SandboxServer",
    "SandboxTenant",
    "alter_field",
    "decode_page_token",
    "encode_page_token",
    "sandbox_env",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next look-up is a plain one
    return value
