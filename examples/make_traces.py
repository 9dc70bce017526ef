"""Generate the example traces for ``cxone-tune replay`` (standard library only, deterministic).

    python examples/make_traces.py            # rewrites every examples/trace-*.csv

Both traces are one working day, 08:00 to 18:00, a row every five minutes (the scheduler's tick), for a team of
44 agents. Every row adds up to the whole team (logged-out agents included), so the total only moves as agents
log in and out, which they do slowly.

- ``trace-flat.csv``: a steady day. About 40 agents logged in, a couple on a break, two to four in after-call
  work, about 10 available and the rest on a contact. Availability wanders by an agent or so from tick to tick.
- ``trace-flapping.csv``: the same team on a realistic day. A few late arrivals before 08:30, lunch in three
  staggered waves between 12:00 and 13:30, early leavers after 17:00, and availability that flaps from tick to
  tick (9, 11, 10, 12, ...) while the staffed capacity barely moves: agents bounce between "available" and "on a
  contact" as calls start and end, which is exactly what a snapshot every five minutes sees.
- ``trace-acd-flapping.csv``: the flapping day in the acd profile's state names, for a Personal Connection skill
  (``CXONE_API=acd cxone-tune replay examples/trace-acd-flapping.csv`` replays the ratio rule), with five more
  agents waiting in the dialer all day, so availability flaps around the ratio table's 15-agent step: the idle
  agents split between ``Available`` and ``Dialer`` (both available by default), ``OutboundContact`` on a call,
  ``ACW`` in after-call work (the API flags it on an Unavailable agent), ``Unavailable`` on a break, ``LoggedOut``.
- ``trace-acd-guard.csv``: the steady day in acd state names with eight more agents in the dialer (about 18
  available: the ratio table's 2.0 all day), and the skill's live calls since the row before: ``abandons`` and
  ``handled`` (about two calls per agent on a contact every five minutes, a few abandoned in a thousand). Twice
  the dialer outruns its agents: from 10:30 to 11:00 three calls in a tick are abandoned (the short window goes
  above the 3% cap, and the rest of the day's rate is above half the 2% setpoint for hours), and from 16:30 to
  17:00 fourteen (the day's rate goes above the setpoint). ``CXONE_API=acd cxone-tune replay
  examples/trace-acd-guard.csv`` shows the abandon guard halving the ratio, holding raises, then dialing 1.0.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEAM = 44
START, END, STEP = 8 * 60, 18 * 60, 5  # minutes since midnight
STATES = ("available", "in-progress", "wrap-up", "unavailable", "logged-out")
ACD_STATES = ("Available", "Dialer", "OutboundContact", "ACW", "Unavailable", "LoggedOut")
Row = tuple[str, int, int, int, int, int]
Table = tuple[tuple[str, ...], list[tuple[str | int, ...]]]  # the header's states, the rows


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _row(minute: int, logged_in: int, on_break: int, acw: int, available: int) -> Row:
    capacity = logged_in - on_break - acw  # agents who can hold a call: available or on a contact
    available = max(0, min(capacity, available))
    return (_clock(minute), available, capacity - available, acw, on_break, TEAM - logged_in)


def flat() -> list[Row]:
    rng = random.Random(20240611)
    rows = []
    available = 10
    for minute in range(START, END + 1, STEP):
        on_break = rng.choice((1, 2, 2, 2, 3))
        acw = rng.choice((2, 3, 3, 4))
        # a mean-reverting wander of about one agent around 10
        available += rng.choice((-1, 0, 0, 1)) + (1 if available < 9 else -1 if available > 11 else 0)
        rows.append(_row(minute, 40, on_break, acw, available))
    return rows


def _logged_in(minute: int) -> int:
    if minute < 8 * 60 + 30:  # late arrivals: 38 at 08:00, one more every ten minutes
        return 38 + (minute - START) // 10
    if minute < 17 * 60:
        return 41
    return 41 - (minute - 17 * 60 + 14) // 15  # early leavers after 17:00: down to 37 by 18:00


def _at_lunch(minute: int) -> int:
    waves = ((12 * 60, 12 * 60 + 45), (12 * 60 + 25, 13 * 60 + 10), (12 * 60 + 45, 13 * 60 + 30))
    return sum(5 for begin, end in waves if begin <= minute < end)


def flapping() -> list[Row]:
    rng = random.Random(20240612)
    flap = (-1, 1, 0, 2)  # 9, 11, 10, 12 around a level of 10
    rows = []
    for tick, minute in enumerate(range(START, END + 1, STEP)):
        on_break = rng.choice((1, 2, 2, 3)) + _at_lunch(minute)
        acw = rng.choice((2, 3, 3, 4))
        capacity = _logged_in(minute) - on_break - acw
        level = round(capacity * 0.3)  # about 10 available out of 34 on the phones; fewer at lunch
        noise = rng.choice((-1, 0, 0, 0, 0, 1))
        rows.append(_row(minute, _logged_in(minute), on_break, acw, level + flap[tick % len(flap)] + noise))
    return rows


def acd_flapping() -> list[tuple[str | int, ...]]:
    """The flapping day in acd state names, five more agents in the dialer: a quarter of the idle agents show as
    Available, the rest as Dialer."""
    return [
        (time, available // 4, available - available // 4 + 5, busy, acw, away, out)
        for time, available, busy, acw, away, out in flapping()
    ]


def acd_guard() -> list[tuple[str | int, ...]]:
    """The steady day in acd state names, eight more agents in the dialer, with the skill's calls: abandons and
    handled since the row before, two bursts of abandons (10:30-11:00 and 16:30-17:00)."""
    rng = random.Random(20240613)
    rows: list[tuple[str | int, ...]] = []
    for time, available, busy, acw, away, out in flat():
        minute = int(time[:2]) * 60 + int(time[3:])
        handled = 2 * busy + rng.randint(-4, 4)
        abandons = rng.choice((0, 0, 0, 0, 1))
        if 10 * 60 + 30 <= minute < 11 * 60:
            abandons = 3
        elif 16 * 60 + 30 <= minute < 17 * 60:
            abandons = 14
        rows.append((time, available // 4, available - available // 4 + 8, busy, acw, away, out, abandons, handled))
    return rows


def write(path: Path, table: Table) -> None:
    states, rows = table
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("time", *states))
        writer.writerows(rows)


TRACES: dict[str, Callable[[], Table]] = {
    "trace-flat.csv": lambda: (STATES, list(flat())),
    "trace-flapping.csv": lambda: (STATES, list(flapping())),
    "trace-acd-flapping.csv": lambda: (ACD_STATES, acd_flapping()),
    "trace-acd-guard.csv": lambda: ((*ACD_STATES, "abandons", "handled"), acd_guard()),
}


def main() -> None:
    for name, make in TRACES.items():
        write(HERE / name, make())
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
