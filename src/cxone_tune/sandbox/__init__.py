"""A local sandbox tenant speaking the v2 contract over real HTTP on 127.0.0.1.

Used by the ``cxone-tune sandbox`` command, the integration tests and the benchmarks.
"""

from .server import SandboxServer
from .state import (
    DEFAULT_CAMPAIGN_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Fault,
    SandboxTenant,
)

__all__ = [
    "DEFAULT_CAMPAIGN_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Fault",
    "SandboxServer",
    "SandboxTenant",
]
