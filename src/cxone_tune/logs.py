"""Logging to stderr: plain text, journald priority prefixes, or JSON lines; secrets always masked.

Off a terminal (cron, systemd), INFO lines are held back and written only if the run fails, so cron mails
only what matters while a failure still comes with its full story.

A steady condition (:func:`condition`: the skill's activity disagreeing with its pool, abandon figures the
access key may not read) is true on every run while it lasts, so it is no news to a scheduler: off a terminal it
is an INFO line (held back, shown with ``-v``, ``<6>`` in the journal), and the audit line and the metrics carry
it. A person at a terminal gets it as a warning, once: not when the command's own output already shows it
(:func:`conditions_shown`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from cxone_tune.text import printable, printable_lines

if TYPE_CHECKING:
    from cxone_tune.settings import Settings

LogFormat = Literal["auto", "text", "journal", "json"]
_LOGGER = "cxone_tune"
# syslog priorities, as journald reads them from a "<N>" line prefix
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class RedactSecrets(logging.Filter):
    """Replaces every known secret in a formatted log message with ***."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, *values: str) -> None:
        self.secrets += [value for value in values if len(value) >= 4 and value not in self.secrets]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _traceback(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The traceback a record carries: ``error(..., trace=...)``'s (already masked), or its ``exc_info``."""
    trace: str | None = getattr(record, "trace", None)
    if trace is None and record.exc_info:
        trace = mask(formatter.formatException(record.exc_info))
    return trace.rstrip("\n") if trace else None


class TextFormatter(logging.Formatter):
    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_PRIORITY.get(record.levelno, 6)}>" if self.journal else ""
        level = record.levelname.lower()
        # Tenant strings (state names, ids, the API's error messages) reach these lines: sanitised (text.py).
        text = f"{prefix}cxone-tune: {level}: {printable(record.getMessage())}"
        trace = _traceback(self, record)
        # The traceback goes first, so the record's own line stays the last one (the error line a scheduler shows).
        return f"{printable_lines(trace)}\n{text}" if trace else text


class JsonFormatter(logging.Formatter):
    """One JSON object per record and per line: a traceback is a field of it, never lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace = _traceback(self, record)
        if trace:
            document["traceback"] = trace
        return json.dumps(document)


class StoryBuffer(logging.Handler):
    """Holds records below WARNING until ``flush_story`` (a failure) or ``discard`` (a success)."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(logging.DEBUG)
        self.target = target
        self.held: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.target.handle(record)
        else:
            self.held.append(record)

    def flush_story(self) -> None:
        for record in self.held:
            self.target.handle(record)
        self.held.clear()


_redact = RedactSecrets()
_active: dict[str, StoryBuffer] = {}  # the held-back story of this run, when there is one
# Whether a person reads stderr (setup_logging's "not held back"), and whether stdout shows the conditions now.
_conditions = {"terminal": False, "shown": False}


def setup_logging(verbose: int, log_format: LogFormat = "auto", *, hold_back: bool | None = None) -> None:
    """Configure the ``cxone_tune`` logger. ``hold_back`` defaults to "stderr is not a terminal"."""
    logger = logging.getLogger(_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    journal = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = ("journal" if journal else "text") if log_format == "auto" else log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(journal=fmt == "journal"))
    handler.addFilter(_redact)
    if hold_back is None:
        hold_back = not sys.stderr.isatty()
    _conditions.update(terminal=not hold_back, shown=False)
    if verbose == 0 and hold_back:
        # Quiet by default off a terminal, but keep the INFO story for a failure.
        _active["story"] = StoryBuffer(handler)
        logger.addHandler(_active["story"])
        logger.setLevel(logging.INFO)
    else:
        _active.pop("story", None)
        logger.addHandler(handler)
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))
    logger.propagate = False
    # httpx and httpcore log full URLs (with query strings) at INFO/DEBUG: keep them quiet.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def redact_settings(settings: Settings) -> None:
    """Teach the redaction filter this run's secrets: every secret setting, whichever profile needs it."""
    from pydantic import SecretStr

    from cxone_tune.settings import SECRET_SETTINGS

    for name in SECRET_SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            _redact.add(value.get_secret_value())


def mask(text: str) -> str:
    """Apply the redaction filter to text that does not go through logging (the final error line)."""
    for secret in _redact.secrets:
        text = text.replace(secret, "***")
    return text


def failure_story() -> None:
    """A run failed: write the held-back INFO lines before the error."""
    story = _active.get("story")
    if story is not None:
        story.flush_story()


def error(message: str, trace: str | None = None) -> None:
    """Log the error line; ``trace`` (a formatted traceback, for ``-vv``) goes with it: as lines before it in
    text, as its ``traceback`` field in JSON."""
    extra = {"trace": mask(trace)} if trace else None
    logging.getLogger(_LOGGER).error(mask(message), extra=extra)


def warning(message: str) -> None:
    logging.getLogger(_LOGGER).warning(mask(message))


def condition(logger: logging.Logger, message: str) -> None:
    """Log a steady condition (see the module): a warning for a person at a terminal whose command does not show
    it on stdout, an INFO line otherwise."""
    terminal, shown = _conditions["terminal"], _conditions["shown"]
    logger.log(logging.WARNING if terminal and not shown else logging.INFO, "%s", message)


@contextlib.contextmanager
def conditions_shown(shown: bool = True) -> Iterator[None]:
    """While the command's own output shows the run's steady conditions (``compute``'s lines, ``run-once``'s
    full output, the ``--pool`` table), they are INFO lines: a person at a terminal reads each once."""
    before = _conditions["shown"]
    _conditions["shown"] = shown or before
    try:
        yield
    finally:
        _conditions["shown"] = before


class _SinkHandler(logging.Handler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink(self.format(record).split("\n", 1)[0])


@contextlib.contextmanager
def diverted(sink: Callable[[str], None]) -> Iterator[None]:
    """While a full-screen view owns the terminal (``agents --watch``), each log line goes to ``sink`` (masked
    and sanitised as ever, its first line only) instead of stderr, where it would tear the screen."""
    logger = logging.getLogger(_LOGGER)
    saved = list(logger.handlers)
    handler = _SinkHandler(sink)
    handler.addFilter(_redact)
    handler.setFormatter(TextFormatter(journal=False))
    for old in saved:
        logger.removeHandler(old)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        for old in saved:
            logger.addHandler(old)
