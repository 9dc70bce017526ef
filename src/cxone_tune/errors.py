"""One error hierarchy; each class carries the sysexits code the CLI exits with, and what that code means.

The codes are part of the interface operators script against (see the CLI contract): do not renumber.
:func:`exit_codes` reads the table of every code from here, for ``--help``'s epilog and the README (which
``tests/test_docs.py`` holds to it).
"""

from __future__ import annotations

SUCCESS = 0
SUCCESS_MEANING = 'success, including "no change needed" and --dry-run'
INTERRUPTED = 130  # Ctrl-C (KeyboardInterrupt is Python's, not a class of ours)
INTERRUPTED_MEANING = "interrupted (Ctrl-C), cleanly"


class CxoneTuneError(Exception):
    """Base of every expected failure. The CLI prints ``str(error)`` on one line and exits ``exit_code``."""

    exit_code: int = 70
    # What the code means to an operator; set by the class that introduces the code (see exit_codes()).
    meaning: str = ""

    def __init__(self, message: str) -> None:
        # Errors end up on one line of stderr, so fold any newline an API message might carry.
        super().__init__(" ".join(message.split()))


class UsageError(CxoneTuneError):
    """Bad command-line usage (e.g. an apply value outside the configured bounds)."""

    exit_code = 2
    meaning = "bad command-line usage, including an apply value outside the configured bounds"


class NothingToReplay(CxoneTuneError):
    """``replay --history`` found no run to replay: no audit log, or no completed run of the target (in the
    window asked for). sysexits' EX_NOINPUT."""

    exit_code = 66
    meaning = "replay --history found nothing to replay (no audit log, or no completed run of the target in the window)"


class ApiUnavailable(CxoneTuneError):
    """5xx, connection errors or timeouts that outlasted the retries."""

    exit_code = 69
    meaning = "the API stayed unavailable (5xx, connection errors, timeouts) after retries"


class InternalError(CxoneTuneError):
    """A bug: something the tool itself got wrong."""

    exit_code = 70
    meaning = "an unexpected internal error (a bug; --verbose shows the traceback)"


class TemporaryFailure(CxoneTuneError):
    """Worth retrying on the next tick: rate limiting, write conflicts, a held lock."""

    exit_code = 75
    meaning = (
        "temporary: rate limited, or write conflicts, after retries; another run holds the lock; "
        "the sandbox's port is in use"
    )


class RateLimited(TemporaryFailure):
    pass


class CampaignConflict(TemporaryFailure):
    """Another writer kept changing the resource while we tried to update it."""


class ProtocolError(CxoneTuneError):
    """The API answered something the tool cannot understand."""

    exit_code = 76
    meaning = "the API answered something the tool cannot understand (malformed or missing fields)"


class AuthError(CxoneTuneError):
    """Authentication or permission refused."""

    exit_code = 77
    meaning = "authentication or permission refused (401/403 that one token refresh does not cure)"


class ConfigError(CxoneTuneError):
    """Configuration missing or invalid, or a value the tenant rejects (400/404)."""

    exit_code = 78
    meaning = (
        "configuration missing or invalid, an unknown campaign (404), a value the tenant rejects (400), "
        "or a TLS failure (CXONE_CA_BUNDLE or the URL)"
    )


class NotFound(ConfigError):
    """The configured campaign (or skill) does not exist: a configuration problem."""


class ValueRejected(ConfigError):
    """The tenant refused the value (400): its bounds differ from the configured ones."""


class GuardRefused(ConfigError):
    """``apply LIMIT`` would raise the steered value above what the abandon guard allows (``--force`` overrides)."""


class FilterMatchesNothing(ConfigError):
    """A team or queue filter value that none of the agents read carries, or an available state that is no
    state: the count would be of a pool the configuration does not mean, so nothing is written."""


class Terminated(BaseException):
    """SIGTERM arrived: end the run now (exit 143), cleanly. Not a :class:`CxoneTuneError`: like Ctrl-C's
    ``KeyboardInterrupt``, it must get past every ``except Exception`` on its way out."""

    exit_code = 143
    meaning = "terminated (SIGTERM), cleanly"


def _subclasses(cls: type[BaseException]) -> list[type[BaseException]]:
    return [cls] + [sub for direct in cls.__subclasses__() for sub in _subclasses(direct)]


def exit_codes() -> list[tuple[int, str]]:
    """Every exit code and what it means, by code: success, each code a class of the hierarchy introduces
    (with its ``meaning``), Ctrl-C."""
    table = {SUCCESS: SUCCESS_MEANING, INTERRUPTED: INTERRUPTED_MEANING}
    for cls in [*_subclasses(CxoneTuneError), Terminated]:
        meaning = cls.__dict__.get("meaning")
        if meaning:
            code = cls.__dict__["exit_code"]
            assert code not in table, f"exit code {code} has two meanings ({cls.__name__})"
            table[code] = meaning
    return sorted(table.items())
