"""One error hierarchy; each class carries the sysexits code the CLI exits with.

The codes are part of the interface operators script against (see the CLI contract): do not renumber.
"""

from __future__ import annotations


class CxoneTuneError(Exception):
    """Base of every expected failure. The CLI prints ``str(error)`` on one line and exits ``exit_code``."""

    exit_code: int = 70

    def __init__(self, message: str) -> None:
        # Errors end up on one line of stderr, so fold any newline an API message might carry.
        super().__init__(" ".join(message.split()))


class UsageError(CxoneTuneError):
    """Bad command-line usage (e.g. an apply value outside the configured bounds)."""

    exit_code = 2


class ApiUnavailable(CxoneTuneError):
    """5xx, connection errors or timeouts that outlasted the retries."""

    exit_code = 69


class InternalError(CxoneTuneError):
    """A bug: something the tool itself got wrong."""

    exit_code = 70


class TemporaryFailure(CxoneTuneError):
    """Worth retrying on the next tick: rate limiting, write conflicts, a held lock."""

    exit_code = 75


class RateLimited(TemporaryFailure):
    pass


class CampaignConflict(TemporaryFailure):
    """Another writer kept changing the resource while we tried to update it."""


class ProtocolError(CxoneTuneError):
    """The API answered something the tool cannot understand."""

    exit_code = 76


class AuthError(CxoneTuneError):
    """Authentication or permission refused."""

    exit_code = 77


class ConfigError(CxoneTuneError):
    """Configuration missing or invalid, or a value the tenant rejects (400/404)."""

    exit_code = 78


class NotFound(ConfigError):
    """The configured campaign (or skill) does not exist: a configuration problem."""


class ValueRejected(ConfigError):
    """The tenant refused the value (400): its bounds differ from the configured ones."""


class FilterMatchesNothing(ConfigError):
    """A team or queue filter value that none of the agents read carries, or an available state that is no
    state: the count would be of a pool the configuration does not mean, so nothing is written."""


class Terminated(BaseException):
    """SIGTERM arrived: end the run now (exit 143), cleanly. Not a :class:`CxoneTuneError`: like Ctrl-C's
    ``KeyboardInterrupt``, it must get past every ``except Exception`` on its way out."""

    exit_code = 143
