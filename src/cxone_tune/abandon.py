"""The abandon guard's figures (issue 10): which windows a run reads, and reading them without ever failing.

Two windows: a short one (the last ``CXONE_ABANDON_SHORT_MINUTES``) and the compliance window
(``CXONE_ABANDON_WINDOW``: ``today``, since local midnight in ``CXONE_ABANDON_TIME_ZONE``, which is what NICE's
own compliance report counts; or ``30d``, the FTC/FCC period: today so far and the 29 whole days before it, one
read per calendar day). Counts, never the API's rate, make the rate: abandons / (handled + abandons).

A window that cannot be read is not an error of the run: the guard then allows no raise, and says why (the
policy's ``abandon_guard``). Whether a lowering is written does not depend on these reads.

What a window is (its spans, :func:`spans`) is defined here once, for the live run that reads the summary per
span (:func:`read`) and for ``replay``, which sums calls logged row by row over the same spans (:class:`CallLog`).
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from cxone_tune import logs
from cxone_tune.errors import CxoneTuneError
from cxone_tune.http import Ahead, Pending
from cxone_tune.policy import AbandonFigures, GuardResult, WindowCounts
from cxone_tune.settings import time_zone

if TYPE_CHECKING:
    from cxone_tune.profiles.base import Profile
    from cxone_tune.settings import Settings

log = logging.getLogger(__name__)

COMPLIANCE_DAYS = 30  # the 30d window: today and the 29 days before it


@dataclass(frozen=True)
class Summary:
    """One summary read: live calls abandoned and handled, and the API's own rate as sent (a cross-check only:
    whether it is a percent or a fraction is unknown)."""

    abandons: int
    handled: int
    reported_rate: Any = None


@dataclass(frozen=True)
class Span:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


@dataclass(frozen=True)
class WindowRead:
    """One window as the run read it: its counts (or why there are none), its time span, the reads it took."""

    counts: WindowCounts
    start: datetime
    end: datetime
    requests: int = 0
    reported_rate: Any = None

    def document(self, min_calls: int) -> dict[str, Any]:
        counts = self.counts
        rate = counts.rate
        return {
            "label": counts.label,
            "start": utc_z(self.start),
            "end": utc_z(self.end),
            "abandons": counts.abandons,
            "handled": counts.handled,
            "live_calls": counts.live if counts.readable else None,
            "rate": None if rate is None else float(rate),
            "reported_rate": self.reported_rate,
            "triggers": counts.readable and counts.live >= min_calls,
            "requests": self.requests,
            "error": counts.reason or None,
        }


@dataclass(frozen=True)
class GuardRead:
    short: WindowRead
    compliance: WindowRead

    @property
    def figures(self) -> AbandonFigures:
        return AbandonFigures(self.short.counts, self.compliance.counts)


def utc_z(moment: datetime) -> str:
    """The reporting API's date form: UTC with a literal Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def short_span(now: datetime, minutes: int) -> Span:
    return Span(now - timedelta(minutes=minutes), now)


def compliance_spans(now: datetime, window: str, zone: tzinfo) -> list[Span]:
    """The compliance window as the reads it takes, oldest first: since local midnight (``today``), or today so
    far and the whole local days before it (``30d``). ``now`` is UTC."""
    today = now.astimezone(zone).date()
    days = 1 if window == "today" else COMPLIANCE_DAYS
    spans = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        end = now if back == 0 else _midnight(day + timedelta(days=1), zone)
        spans.append(Span(min(_midnight(day, zone), end), end))
    return spans


def spans(settings: Settings, moment: datetime) -> tuple[Span, list[Span]]:
    """The spans of the two windows a run at ``moment`` (UTC) judges: the short one, and the compliance one as
    the reads it takes."""
    zone = time_zone(settings.abandon_time_zone)
    return (
        short_span(moment, settings.abandon_short_minutes),
        compliance_spans(moment, settings.abandon_window, zone),
    )


def labels(settings: Settings) -> tuple[str, str]:
    """How the two windows are named in output."""
    zone = settings.abandon_time_zone
    compliance = (
        f"today since 00:00 {zone}" if settings.abandon_window == "today" else f"last {COMPLIANCE_DAYS} days ({zone})"
    )
    return f"last {settings.abandon_short_minutes} min", compliance


def _read(profile: Profile, label: str, spans: list[Span]) -> WindowRead:
    """Sum the reads of one window; any failure makes the whole window unreadable (with the failure's line)."""
    abandons = handled = requests = 0
    reported: Any = None
    for span in spans:
        if span.end <= span.start:
            continue  # an empty span (the very second of midnight): no calls, nothing to ask
        requests += 1
        try:
            read = profile.read_abandons(span.start, span.end)
        except CxoneTuneError as exc:
            return WindowRead(WindowCounts(label, reason=str(exc)), spans[0].start, spans[-1].end, requests)
        abandons += read.abandons
        handled += read.handled
        reported = read.reported_rate if len(spans) == 1 else None
    counts = WindowCounts(label, abandons, handled)
    return WindowRead(counts, spans[0].start, spans[-1].end, requests, reported)


def reads(profile: Profile, settings: Settings) -> bool:
    """Whether the guard reads figures: ``CXONE_ABANDON_GUARD`` is on and the profile has abandon figures."""
    return settings.abandon_guard and profile.has_abandon_data


def read(
    profile: Profile, settings: Settings, now: datetime | None = None, *, ahead: Ahead | None = None
) -> Pending[GuardRead | None]:
    """Both windows' figures, read one after the other (the short window first) on ``ahead`` (else when the result
    is taken); None when the guard does not run (:func:`reads`). Never raises for a failed read: that window is
    then unreadable, with a warning logged when the result is taken."""
    if not reads(profile, settings):
        return Pending(lambda: None)
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    short_label, compliance_label = labels(settings)
    last_minutes, compliance_window = spans(settings, moment)

    def both() -> GuardRead:
        return GuardRead(
            _read(profile, short_label, [last_minutes]), _read(profile, compliance_label, compliance_window)
        )

    windows = (ahead or Ahead(0)).start(both)

    def taken() -> GuardRead:
        read = windows.result()
        for window in (read.short, read.compliance):
            if window.counts.reason:
                # On every run while it lasts (a 403 for want of the reporting permission): see logs.condition.
                logs.condition(
                    log, f"abandon guard: {window.counts.label} unreadable, no raise: {window.counts.reason}"
                )
        return read

    return Pending(taken)


@dataclass(frozen=True)
class Calls:
    """Live calls counted over an interval that ends at ``at`` (aware): a replayed trace's row, whose
    ``abandons`` and ``handled`` are the calls since the row before."""

    at: datetime
    abandons: int
    handled: int


class CallLog:
    """Calls logged as they came, summed over a window's spans the way the summary reads of a live run sum them:
    an entry counts in a span when the interval it ends does, that is when its stamp is after the span's start and
    no later than its end (so contiguous spans never count an entry twice). Entries before the first one logged
    are unknown, and count as none: a window reaches as far back as the log does."""

    def __init__(self, calls: Iterable[Calls]) -> None:
        entries = sorted(calls, key=lambda entry: entry.at)
        self._stamps = [entry.at for entry in entries]
        self._abandons = list(accumulate((entry.abandons for entry in entries), initial=0))
        self._handled = list(accumulate((entry.handled for entry in entries), initial=0))

    def window(self, label: str, spans: Sequence[Span]) -> WindowCounts:
        abandons = handled = 0
        for span in spans:
            if span.end <= span.start:
                continue
            first, last = bisect_right(self._stamps, span.start), bisect_right(self._stamps, span.end)
            abandons += self._abandons[last] - self._abandons[first]
            handled += self._handled[last] - self._handled[first]
        return WindowCounts(label, abandons, handled)

    def figures(self, settings: Settings, now: datetime) -> AbandonFigures:
        """Both windows as a run at ``now`` (aware) would have read them from the summary."""
        short_label, compliance_label = labels(settings)
        short, compliance = spans(settings, now.astimezone(timezone.utc))
        return AbandonFigures(self.window(short_label, [short]), self.window(compliance_label, compliance))


def status(settings: Settings) -> str:
    """Whether the guard runs: "on", "off" or "not available on this API"."""
    if not settings.profile_class.has_abandon_data:
        return "not available on this API"
    return "on" if settings.abandon_guard else "off"


@dataclass(frozen=True)
class GuardReport:
    """The guard as a run saw it: whether it ran, its thresholds, and the windows it read (None: not read)."""

    status: str
    setpoint_pct: Decimal
    cap_pct: Decimal
    min_calls: int
    read: GuardRead | None

    @classmethod
    def of(cls, settings: Settings, read: GuardRead | None) -> GuardReport:
        return cls(
            status(settings), settings.abandon_setpoint_pct, settings.abandon_cap_pct, settings.abandon_min_calls, read
        )

    def document(self, result: GuardResult | None) -> dict[str, Any]:
        """The ``guard`` key of compute, run-once and the audit line."""
        windows = None
        if self.read is not None:
            windows = {
                "short": self.read.short.document(self.min_calls),
                "compliance": self.read.compliance.document(self.min_calls),
            }
        return {
            "status": self.status,
            "setpoint_pct": float(self.setpoint_pct),
            "cap_pct": float(self.cap_pct),
            "min_calls": self.min_calls,
            "windows": windows,
            "action": None if result is None else result.action,
            "ceiling": None if result is None else result.ceiling,
            "raise_allowed": None if result is None else result.raise_allowed,
            "reasons": [] if result is None else list(result.reasons),
        }
