"""The pacing policy: counts in, a decision and its reasons out. Pure: no I/O, no clock, no settings object.

Two rules, one per kind of steered value:
- a line count (v2 ``rules.maxConcurrentCalls``): the design's floor(available x safety factor), clamped to
  [min, max]. Zero is never a decision: the API rejects it, and a campaign with no agents should fall to
  the minimum, not fail every run.
- a per-agent dial ratio (acd ``maximumRatio``): the dialer already multiplies by the agents it has, so the
  tool picks the ratio by pool size from a step table (small pools dial 1:1, where predictive over-dial is
  unsafe), clamped to [min ratio, max ratio].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

RULE = "floor(available x safety_factor), clamped to [min_limit, max_limit]"
RATIO_RULE = "ratio by available agents from the step table, clamped to [min_ratio, max_ratio]"

Value = int | float


def _finite(value: Decimal) -> bool:
    return value.is_finite()


def _num(value: Decimal | float | int) -> Value:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


@dataclass(frozen=True)
class PolicyParams:
    """Parameters of the line-count rule."""

    safety_factor: Decimal = Decimal("0.8")
    min_limit: int = 1
    max_limit: int = 50

    def __post_init__(self) -> None:
        if not (_finite(self.safety_factor) and Decimal(0) < self.safety_factor <= Decimal(1)):
            raise ValueError("safety_factor must be in (0, 1]")
        if not (1 <= self.min_limit <= self.max_limit):
            raise ValueError("need 1 <= min_limit <= max_limit")

    @property
    def bounds(self) -> tuple[Value, Value]:
        return self.min_limit, self.max_limit

    def base_rule(self, available: int, total: int) -> Decision:
        return decide(available, total, self)

    def one_line_each_up_to(self, size: int, total: int) -> Value | None:
        """The small-team ceiling: what the rule gives at the team size itself (one more agent must never lower
        the value: 5 agents -> 5 lines, 6 -> floor(4.8) = 4 would flap)."""
        return decide(size, total, self).raw

    def raise_cap(self, cap: Decimal, current: Value) -> Value:
        """A raise limit as a line count: a whole line at least, since floor(4 x 1.2) is 4 and a small limit
        could otherwise never rise."""
        return max(math.floor(cap), int(current) + 1)

    def lower_floor(self, floor: Decimal) -> Value:
        """A lower limit as a line count: rounded up, so a step never lowers by more than it says."""
        return _num(math.ceil(floor))

    def round_down(self, value: Decimal) -> Value:
        """A guard's ceiling as a line count: a whole line, rounded down (a guard never allows more than it says)."""
        return _num(math.floor(value))


DEFAULT_STEPS: tuple[tuple[int, Decimal], ...] = ((0, Decimal("1.0")), (6, Decimal("1.5")), (15, Decimal("2.0")))


@dataclass(frozen=True)
class RatioParams:
    """Parameters of the per-agent ratio rule: ``steps`` are (at least N available agents, ratio)."""

    steps: tuple[tuple[int, Decimal], ...] = DEFAULT_STEPS
    min_ratio: Decimal = Decimal("1.0")
    max_ratio: Decimal = Decimal("3.0")

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0][0] != 0:
            raise ValueError("the step table must start at 0 agents")
        thresholds = [n for n, _ in self.steps]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("step thresholds must be strictly increasing")
        ratios = [self.min_ratio, self.max_ratio, *(r for _, r in self.steps)]
        if not all(_finite(r) and r > 0 for r in ratios):
            raise ValueError("ratios must be positive numbers")
        if self.min_ratio > self.max_ratio:
            raise ValueError("need min_ratio <= max_ratio")

    @property
    def bounds(self) -> tuple[Value, Value]:
        return float(self.min_ratio), float(self.max_ratio)

    def base_rule(self, available: int, total: int) -> Decision:
        return decide_ratio(available, total, self)

    def one_line_each_up_to(self, size: int, total: int) -> Value | None:
        """None: the step table already dials small pools 1:1, a ratio has no "one line per agent"."""
        return None

    def raise_cap(self, cap: Decimal, current: Value) -> Value:
        return _num(cap)  # a ratio moves in any step, not in whole lines

    def lower_floor(self, floor: Decimal) -> Value:
        return _num(floor)

    def round_down(self, value: Decimal) -> Value:
        """A guard's ceiling as a ratio: rounded down to a tenth (1 + 0.5/2 = 1.25 -> 1.2): a tenant may not take
        finer ratios, and an abandon guard that a 400 stops would protect nothing."""
        return float(value.quantize(Decimal("0.1"), rounding=ROUND_FLOOR))


Params = PolicyParams | RatioParams


@dataclass(frozen=True)
class Decision:
    limit: Value
    raw: Value  # the rule's value before clamping
    available: int
    total: int
    reasons: tuple[str, ...]
    rule: str = RULE


def decide(available: int, total: int, params: PolicyParams) -> Decision:
    """The line-count rule."""
    _check_counts(available, total)
    # Decimal, not float: 0.29 * 100 is 28.999999999999996 in binary floating point, and floor would say 28.
    product = Decimal(available) * params.safety_factor
    raw = math.floor(product)
    percent = f"{(params.safety_factor * 100).normalize():f}%"
    reasons = [f"{percent} of {available} available agent(s) = {product.normalize():f}, rounded down to {raw}"]
    limit = raw
    if raw < params.min_limit:
        limit = params.min_limit
        why = "no agents are available" if available == 0 else f"{raw} is below the minimum"
        reasons.append(f"raised to the minimum {params.min_limit}: {why} (0 is never written)")
    elif raw > params.max_limit:
        limit = params.max_limit
        reasons.append(f"capped at the maximum {params.max_limit}")
    return Decision(limit=limit, raw=raw, available=available, total=total, reasons=tuple(reasons))


def decide_ratio(available: int, total: int, params: RatioParams) -> Decision:
    """The per-agent ratio rule."""
    _check_counts(available, total)
    threshold, ratio = max((step for step in params.steps if step[0] <= available), key=lambda step: step[0])
    reasons = [f"{available} available agent(s) is at least {threshold}: ratio {ratio.normalize():f}"]
    if threshold == 0 and len(params.steps) > 1:
        reasons.append(f"fewer than {params.steps[1][0]} agents: too few for predictive over-dial to be safe")
    limit = ratio
    if ratio < params.min_ratio:
        limit = params.min_ratio
        reasons.append(f"raised to the minimum ratio {params.min_ratio.normalize():f}")
    elif ratio > params.max_ratio:
        limit = params.max_ratio
        reasons.append(f"capped at the maximum ratio {params.max_ratio.normalize():f}")
    return Decision(
        limit=float(limit),
        raw=float(ratio),
        available=available,
        total=total,
        reasons=tuple(reasons),
        rule=RATIO_RULE,
    )


def _pct(value: Decimal) -> str:
    """A percentage as shown: at most two decimals, no trailing zeros (2, 2.5, 1.67)."""
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def _check_counts(available: int, total: int) -> None:
    if available < 0 or total < 0:
        raise ValueError("agent counts cannot be negative")


# -- the full pipeline: eligibility, the base rule, stability, guards, bounds ------------------------------------
#
# `evaluate` runs STEPS, an ordered list of small functions over one working state (`Work`). Every option
# defaults to "off", so the pipeline with default options gives exactly the design's rule. Each step that
# changes the value records a row (`Step`: what it saw and did), so `compute` can explain a decision line by line.


@dataclass(frozen=True)
class Pool:
    """Eligible agents by what they are doing, as counted from one snapshot."""

    available: int
    total: int
    busy: int = 0  # on a contact
    acw: int = 0  # after-call work


@dataclass(frozen=True)
class Options:
    acw_weight: Decimal = Decimal(0)  # share of an after-call-work agent counted as available
    count_busy: bool = False  # agents on a contact count toward the ceiling (a busy campaign is not throttled)
    small_team_size: int = 0  # below this many effective agents: one line per agent (0: off)
    no_agents: str = "minimum"  # "minimum" (write the minimum) or "hold" (keep the current value)
    raise_after_runs: int = 1  # raise only after this many consecutive runs proposed a raise
    max_raise: Decimal | None = None  # raise by at most this much per run ...
    max_raise_pct: Decimal | None = None  # ... or this percentage of the current value, whichever is more
    max_lower_pct: Decimal | None = None  # lower by at most this percentage per run (None: at once)
    deadband: Decimal = Decimal(0)  # skip changes smaller than max(deadband, deadband_pct of current)
    deadband_pct: Decimal = Decimal(0)
    # The abandon guard (issue 10); it acts only when the run has abandon figures (``Inputs.abandon``).
    abandon_setpoint_pct: Decimal = Decimal("2.0")  # above it on the compliance window: 1.0; raise below half
    abandon_cap_pct: Decimal = Decimal("3.0")  # above it on the short window: half the headroom above 1.0
    abandon_min_calls: int = 20  # a window with fewer live calls does not trigger


@dataclass(frozen=True)
class Step:
    rule: str
    before: Value | None
    after: Value | None
    note: str

    @property
    def fired(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class WindowCounts:
    """One window's abandon figures: live calls abandoned and handled (None: they could not be read, and
    ``reason`` says why). The rate is abandons / (handled + abandons), computed here from the counts."""

    label: str  # "last 30 min", "today since 00:00 UTC", ...
    abandons: int | None = None
    handled: int | None = None
    reason: str = ""

    @property
    def readable(self) -> bool:
        return self.abandons is not None and self.handled is not None

    @property
    def live(self) -> int:
        return (self.abandons or 0) + (self.handled or 0)

    @property
    def rate(self) -> Decimal | None:
        """The abandon rate as a fraction (0.025 for 2.5%); None when unreadable or without live calls."""
        if not self.readable or not self.live:
            return None
        return Decimal(self.abandons or 0) / Decimal(self.live)

    def above(self, percent: Decimal) -> bool:
        """The rate is above ``percent`` (exactly: 100 x abandons > percent x live calls)."""
        return self.readable and 100 * Decimal(self.abandons or 0) > percent * self.live

    def below(self, percent: Decimal) -> bool:
        return self.readable and 100 * Decimal(self.abandons or 0) < percent * self.live

    def describe(self) -> str:
        if not self.readable:
            return f"{self.label}: unreadable ({self.reason or 'no figures'})"
        rate = self.rate
        shown = "no live calls" if rate is None else f"{_pct(rate * 100)}%"
        return f"{self.label}: {self.abandons} of {self.live} live calls abandoned ({shown})"


@dataclass(frozen=True)
class AbandonFigures:
    """The two windows the abandon guard judges: a short one (the last minutes) and the compliance window."""

    short: WindowCounts
    compliance: WindowCounts


@dataclass(frozen=True)
class GuardResult:
    """What the abandon guard allowed: at most ``ceiling`` (None: no limit), whether a raise was allowed, every
    rule that applied, and ``action``: "none" (it did not change the value), "hold" (a raise held at the value in
    force), "halve" (half the headroom above 1.0) or "progressive" (1.0)."""

    ceiling: Value | None
    raise_allowed: bool
    action: str
    reasons: tuple[str, ...]
    why: str = ""  # the rule that set the ceiling (the first of ``reasons``, without its "at most")


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    steps: tuple[Step, ...]
    effective: Decimal  # the effective agents the base rule saw
    proposal: Value  # the value before the stability steps: what the next run's raise check remembers
    held: bool  # the value stays as it is (hold, deadband, unconfirmed raise)
    guard: GuardResult | None = None  # what the abandon guard did, when the run had abandon figures


@dataclass(frozen=True)
class Inputs:
    """What one run knows besides its parameters: the agent pool, the value in force (None: unknown) and the
    proposals of the previous runs, newest last. A new figure a step needs (issue 10's abandon counts) is a new
    field here, with a default, and reaches the step through ``Work.inputs``: no other step changes."""

    pool: Pool
    current: Value | None = None
    recent: tuple[Value, ...] = ()
    abandon: AbandonFigures | None = None  # None: no abandon guard (off, or the API has no abandon figures)


@dataclass
class Work:
    """The working state the steps pass along. A step reads ``inputs``, ``params`` and ``options``, may change
    ``value`` (through :meth:`change`, which records the explanation row) and may lower ``ceiling``. Two steps
    clamp: :func:`proposal` bounds the rule's value before the stability steps (it is what the next run
    remembers), and :func:`bounds`, last, bounds the value written, under ``ceiling``."""

    inputs: Inputs
    params: Params
    options: Options
    steps: list[Step] = field(default_factory=list)
    effective: Decimal = Decimal(0)  # eligible agents, ACW weight and busy agents included
    counted: int = 0  # the whole agents the base rule saw
    raw: Value = 0  # the base rule's value before any step
    rule: str = ""  # the base rule's formula
    value: Value = 0  # the value so far
    proposal: Value | None = None  # the value before the stability steps: what the next run's raise check remembers
    settled: bool = False  # a hold decided the value: the remaining stability steps pass (guards and bounds do not)
    ceiling: Value | None = None  # the most any step allows; the bounds step clamps to min(high, ceiling)
    ceiling_note: str = ""
    guard: GuardResult | None = None  # what the abandon guard decided

    def change(self, rule: str, new: Value, note: str) -> None:
        self.steps.append(Step(rule, self.value, new, note))
        self.value = new

    def lower_ceiling(self, ceiling: Value, note: str) -> None:
        """Allow at most ``ceiling``. Only :func:`bounds` applies it, after every other step, so neither a hold
        nor the deadband can keep a value above it."""
        if self.ceiling is None or ceiling < self.ceiling:
            self.ceiling, self.ceiling_note = ceiling, note

    def in_force(self) -> Value | None:
        """The value in force, when the stability steps apply: something is in force and no hold has settled."""
        return None if self.settled else self.inputs.current


# -- the steps, in the order they run ---------------------------------------------------------------------------
#
# Each is a small function of the working state. The order is the policy: eligibility and the base rule make a
# value, the proposal is that value within the bounds, the stability steps move it toward the value in force,
# and `bounds` has the last word.


def eligible(work: Work) -> None:
    """Agents the rule counts: the available ones, a share of those in after-call work, and optionally the busy."""
    pool, options = work.inputs.pool, work.options
    work.effective = Decimal(pool.available) + options.acw_weight * pool.acw + (pool.busy if options.count_busy else 0)
    work.counted = math.floor(work.effective)
    parts = [f"{pool.available} available"]
    if options.acw_weight:
        parts.append(f"{options.acw_weight.normalize():f} x {pool.acw} in after-call work")
    if options.count_busy:
        parts.append(f"{pool.busy} on a contact")
    note = " + ".join(parts) + f" = {work.effective.normalize():f}"
    work.steps.append(Step("eligible agents", None, _num(work.effective), note))


def base_rule(work: Work) -> None:
    """The params' own rule (line count or ratio) over the eligible agents."""
    base = work.params.base_rule(work.counted, work.inputs.pool.total)
    work.raw, work.rule, work.value = base.raw, base.rule, base.raw
    note = base.reasons[0]
    if work.effective != work.inputs.pool.available:
        note = note.replace("available agent(s)", "eligible agent(s)")
    work.steps.append(Step("base rule", None, work.value, note))


def small_team(work: Work) -> None:
    """Below the team size, one line per agent, up to what the rule gives at the size (line counts only)."""
    size = work.options.small_team_size
    if not (size and 0 < work.counted < size):
        return
    up_to = work.params.one_line_each_up_to(size, work.inputs.pool.total)
    if up_to is None:
        return
    new = max(work.value, min(work.counted, up_to))
    if new != work.value:
        work.change("small team", new, f"fewer than {size} agents: one line each, up to {up_to}")


def no_agents(work: Work) -> None:
    """With no_agents="hold", nobody available keeps the value in force (and remembers it as the proposal)."""
    current = work.in_force()
    if work.counted == 0 and work.options.no_agents == "hold" and current is not None:
        work.change("no agents", current, "no agents available: holding the current value")
        work.proposal, work.settled = current, True


def proposal(work: Work) -> None:
    """The rule's value within the bounds: what the stability steps start from and the next run remembers."""
    if work.settled:
        return
    low, high = work.params.bounds
    clamped = min(max(work.value, low), high)
    if clamped != work.value:
        why = "no agents are available (0 is never written)" if work.counted == 0 else "outside the configured bounds"
        work.change("bounds", clamped, f"clamped to [{low:g}, {high:g}]: {why}")
    work.proposal = work.value


def confirm_raise(work: Work) -> None:
    """Raise only after ``raise_after_runs`` runs in a row proposed a raise, and then by the least of them."""
    current, needed, recent = work.in_force(), work.options.raise_after_runs, work.inputs.recent
    if current is None or not work.value > current or needed <= 1:
        return
    streak = 1
    for earlier in reversed(recent):
        if earlier <= current:
            break
        streak += 1
    if streak < needed:
        work.change("confirm raise", current, f"raise proposed on {streak} of {needed} runs in a row")
        work.settled = True
        return
    agreed = min([work.value, *recent[-(needed - 1) :]])
    if agreed != work.value:
        work.change("confirm raise", agreed, f"the lowest raise of the last {needed} runs")


def raise_step(work: Work) -> None:
    """Raise by at most max_raise or max_raise_pct of the value in force, whichever allows more: a small limit
    is not stuck crawling up 20% at a time (from 1 after a night at the minimum) while a large one rises gently."""
    current, options = work.in_force(), work.options
    if current is None or not work.value > current:
        return
    caps = [Decimal(str(current)) + options.max_raise] if options.max_raise is not None else []
    if options.max_raise_pct is not None:
        caps.append(Decimal(str(current)) * (1 + options.max_raise_pct / 100))
    if not caps:
        return
    capped = work.params.raise_cap(max(caps), current)
    if capped < work.value:
        work.change("raise step", max(capped, current), "raised by at most the step limit")


def lower_step(work: Work) -> None:
    """Lower by at most max_lower_pct of the value in force (None: at once)."""
    current, percent = work.in_force(), work.options.max_lower_pct
    if current is None or percent is None or not work.value < current:
        return
    floored = work.params.lower_floor(Decimal(str(current)) * (1 - percent / 100))
    if floored > work.value:
        work.change("lower step", floored, f"lowered by at most {percent}%")


def deadband(work: Work) -> None:
    """Keep the value in force when the change is smaller than max(deadband, deadband_pct of it)."""
    current, options = work.in_force(), work.options
    if current is None or work.value == current:
        return
    band = max(options.deadband, Decimal(str(current)) * options.deadband_pct / 100)
    if band and abs(Decimal(str(work.value)) - Decimal(str(current))) < band:
        work.change("deadband", current, f"a change smaller than {band.normalize():f} is not worth a write")
        work.settled = True


def guard_result(
    figures: AbandonFigures, options: Options, params: Params, current: Value | None, value: Value
) -> GuardResult:
    """What the abandon guard allows for ``value`` (the value a run decided, or an operator's ``apply LIMIT``) with
    ``current`` in force (None: unknown): the one rule, for the policy's step and for ``apply``.

    Above the setpoint on the compliance window: at most 1.0 (progressive: one call per agent, no abandons by
    construction). Above the cap on the short window: half the headroom above 1.0 of the value in force.
    A raise only while the compliance window's rate is below half the setpoint. A window with fewer live calls
    than the minimum does not trigger; a window that could not be read allows no raise."""
    short, compliance = figures.short, figures.compliance
    enough = options.abandon_min_calls
    low, high = params.bounds
    ceilings: list[tuple[Value, str, str]] = []  # (ceiling, action, why)
    if compliance.live >= enough and compliance.above(options.abandon_setpoint_pct):
        why = f"the compliance window is above the setpoint {_pct(options.abandon_setpoint_pct)}%: 1.0 (progressive)"
        ceilings.append((params.round_down(Decimal(1)), "progressive", why))
    if short.live >= enough and short.above(options.abandon_cap_pct):
        base = value if current is None else current
        # never below the minimum: a value in force under it (set by hand, or before the bounds changed) is not
        # a pace to hold to; the minimum (at most 1.0 with the guard on: settings) is the floor of safe pacing
        halved = max(base if base <= 1 else params.round_down(1 + (Decimal(str(base)) - 1) / 2), low)
        why = f"the short window is above the cap {_pct(options.abandon_cap_pct)}%: half the headroom above 1.0"
        ceilings.append((halved, "halve", f"{why}, {base:g} -> {halved:g}"))
    half = options.abandon_setpoint_pct / 2
    if not compliance.readable:
        no_raise = f"no raise, the compliance window could not be read ({compliance.reason or 'no figures'})"
    elif not short.readable:
        no_raise = f"no raise, the short window could not be read ({short.reason or 'no figures'})"
    elif compliance.live < enough or not compliance.live or compliance.below(half):
        no_raise = ""  # too few calls to judge (none at all: nothing abandoned), or a rate well under the setpoint
    else:
        no_raise = f"no raise, the compliance rate is not below half the setpoint ({_pct(half)}%)"
    if no_raise and current is not None:
        ceilings.append((max(current, low), "hold", no_raise))
    unguarded = min(max(value, low), high)  # what `bounds` would write without the guard
    reasons = tuple(f"at most {ceiling:g}: {why}" for ceiling, _, why in sorted(ceilings, key=lambda c: c[0]))
    if not ceilings:
        return GuardResult(None, not no_raise, "none", reasons)
    ceiling, action, why = min(ceilings, key=lambda item: item[0])
    return GuardResult(ceiling, not no_raise, "none" if unguarded <= ceiling else action, reasons, why)


def abandon_guard(work: Work) -> None:
    """Never raise pacing into an abandon-rate breach: a ceiling (:func:`guard_result`) no earlier step can keep a
    value above."""
    figures = work.inputs.abandon
    if figures is None:
        return
    result = guard_result(figures, work.options, work.params, work.inputs.current, work.value)
    if result.ceiling is not None:
        work.lower_ceiling(result.ceiling, f"abandon guard: {result.why}")
    work.guard = result
    verdict = "; ".join(result.reasons) if result.reasons else "raise allowed"
    note = f"{figures.short.describe()}; {figures.compliance.describe()}; {verdict}"
    work.steps.append(Step("abandon guard", work.value, work.value, note))


def bounds(work: Work) -> None:
    """The last word: the value lies within [low, high] and under any ceiling a step set. A value in force
    outside today's bounds is never kept, whatever held it. A ceiling is never below the minimum (the abandon
    guard's floor is 1.0, and the settings refuse a minimum above it while the guard is on)."""
    low, high = work.params.bounds
    bounded = min(max(work.value, low), high)
    if bounded != work.value:
        work.change("bounds", bounded, f"the value in force is outside [{low:g}, {high:g}]")
    if work.ceiling is not None and work.value > work.ceiling:
        work.change("bounds", work.ceiling, work.ceiling_note)


STEPS: tuple[Callable[[Work], None], ...] = (
    eligible,
    base_rule,
    small_team,
    no_agents,
    proposal,
    confirm_raise,
    raise_step,
    lower_step,
    deadband,
    # Guards go here: after the stability steps, before `bounds`. Each reads its figures from an `Inputs` field
    # and calls `work.lower_ceiling(...)` with a row of its own; `bounds` then clamps to it, so no earlier step
    # can keep a value above it.
    abandon_guard,
    bounds,
)


def evaluate(
    pool: Pool,
    params: Params,
    options: Options | None = None,
    current: Value | None = None,
    recent: tuple[Value, ...] = (),
    abandon: AbandonFigures | None = None,
) -> Evaluation:
    """Run the whole policy. ``current`` is the value in force (None: unknown), ``recent`` the proposals of
    the previous runs, newest last (for the raise confirmation), ``abandon`` the figures of the abandon guard
    (None: no guard)."""
    return run(Inputs(pool, current, recent, abandon), params, options or Options())


def run(
    inputs: Inputs, params: Params, options: Options, steps: Sequence[Callable[[Work], None]] = STEPS
) -> Evaluation:
    """Run ``steps`` in order over ``inputs`` and explain the result."""
    pool = inputs.pool
    _check_counts(pool.available, pool.total)
    work = Work(inputs, params, options)
    for apply in steps:
        apply(work)
    reasons = tuple(row.note for row in work.steps[1:] if row.rule == "base rule" or row.fired)
    decision = Decision(
        limit=work.value, raw=work.raw, available=pool.available, total=pool.total, reasons=reasons, rule=work.rule
    )
    remembered = work.value if work.proposal is None else work.proposal
    held = work.value == inputs.current
    return Evaluation(decision, tuple(work.steps), work.effective, remembered, held, work.guard)
