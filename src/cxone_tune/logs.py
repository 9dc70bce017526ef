"""Logging to stderr, with every known secret masked before a record is written."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretStr

from cxone_tune.settings import Settings

_LEVELS = {0: logging.WARNING, 1: logging.INFO}


class RedactSecrets(logging.Filter):
    """Replaces any configured secret in a formatted log message with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup_logging(verbose: int, settings: Settings | None) -> None:
    root = logging.getLogger("cxone_tune")
    root.setLevel(_LEVELS.get(verbose, logging.DEBUG))
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cxone-tune: %(levelname)s: %(message)s"))
    secrets = [
        value.get_secret_value()
        for value in ((settings.client_secret, settings.access_key_secret) if settings is not None else ())
        if isinstance(value, SecretStr)
    ]
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)
    root.propagate = False
    # httpx and httpcore log full URLs (with query strings) at INFO/DEBUG: keep them quiet.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
