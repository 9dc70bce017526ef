"""A local sandbox tenant over real HTTP on 127.0.0.1, speaking both API profiles at once.

``v2`` (the design document's contract) under ``/oauth/token`` and ``/api/v2/``; ``acd`` (the real NICE
CXone API) under ``/.well-known/``, ``/auth/token`` and ``/inContactAPI/services/vNN.N/``.
Used by the ``cxone-tune sandbox`` command, the integration tests and the benchmarks.
"""

from .server import SandboxServer
from .state import (
    ACD_API_VERSION_DEFAULT,
    ACD_STATE_IDS,
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_ACCESS_KEY_SECRET,
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SKILL_ID,
    DEFAULT_TENANT_ID,
    Fault,
    SandboxTenant,
)

__all__ = [
    "ACD_API_VERSION_DEFAULT",
    "ACD_STATE_IDS",
    "DEFAULT_ACCESS_KEY_ID",
    "DEFAULT_ACCESS_KEY_SECRET",
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SKILL_ID",
    "DEFAULT_TENANT_ID",
    "Fault",
    "SandboxServer",
    "SandboxTenant",
]
