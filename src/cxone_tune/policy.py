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
from dataclasses import dataclass
from decimal import Decimal

RULE = "floor(available x safety_factor), clamped to [min_limit, max_limit]"
RATIO_RULE = "ratio by available agents from the step table, clamped to [min_ratio, max_ratio]"

Value = int | float


def _finite(value: Decimal) -> bool:
    return value.is_finite()


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


def decide_any(available: int, total: int, params: Params) -> Decision:
    if isinstance(params, RatioParams):
        return decide_ratio(available, total, params)
    return decide(available, total, params)


def _check_counts(available: int, total: int) -> None:
    if available < 0 or total < 0:
        raise ValueError("agent counts cannot be negative")


# -- the full pipeline: eligibility, the base rule, guards and stability ----------------------------------------
#
# Every option defaults to "off", so the pipeline with default options gives exactly the design's rule. Each
# step that is switched on records what it saw and did, so `compute` can explain a decision line by line.


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
class Evaluation:
    decision: Decision
    steps: tuple[Step, ...]
    effective: Decimal  # the effective agents the base rule saw
    proposal: Value  # the value before the stability steps: what the next run's raise check remembers
    held: bool  # the value stays as it is (hold, deadband, unconfirmed raise)


def _num(value: Decimal | float | int) -> Value:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def evaluate(
    pool: Pool,
    params: Params,
    options: Options | None = None,
    current: Value | None = None,
    recent: tuple[Value, ...] = (),
) -> Evaluation:
    """Run the whole policy. ``current`` is the value in force (None: unknown), ``recent`` the proposals of
    the previous runs, newest last (for the raise confirmation)."""
    options = options or Options()
    _check_counts(pool.available, pool.total)
    steps: list[Step] = []
    effective = Decimal(pool.available) + options.acw_weight * pool.acw + (pool.busy if options.count_busy else 0)
    parts = [f"{pool.available} available"]
    if options.acw_weight:
        parts.append(f"{options.acw_weight.normalize():f} x {pool.acw} in after-call work")
    if options.count_busy:
        parts.append(f"{pool.busy} on a contact")
    steps.append(Step("eligible agents", None, _num(effective), " + ".join(parts) + f" = {effective.normalize():f}"))

    counted = math.floor(effective)
    ratio = isinstance(params, RatioParams)
    base = decide_ratio(counted, pool.total, params) if ratio else decide(counted, pool.total, params)  # type: ignore[arg-type]
    value: Value = base.raw
    note = base.reasons[0]
    if effective != pool.available:
        note = note.replace("available agent(s)", "eligible agent(s)")
    steps.append(Step("base rule", None, value, note))
    low, high = params.bounds

    if options.small_team_size and 0 < counted < options.small_team_size and not ratio:
        # One line per agent, but never more than the rule gives at the threshold itself: otherwise one more
        # agent could lower the ceiling (5 agents -> 5 lines, 6 -> floor(4.8) = 4) and the value would flap.
        at_threshold = decide(options.small_team_size, pool.total, params).raw  # type: ignore[arg-type]
        new = max(value, min(counted, at_threshold))
        if new != value:
            note = f"fewer than {options.small_team_size} agents: one line each, up to {at_threshold}"
            steps.append(Step("small team", value, new, note))
            value = new
    if counted == 0 and options.no_agents == "hold" and current is not None:
        steps.append(Step("no agents", value, current, "no agents available: holding the current value"))
        return _finish(pool, base, steps, effective, current, held=True, low=low, high=high)
    clamped = min(max(value, low), high)
    if clamped != value:
        why = "no agents are available (0 is never written)" if counted == 0 else "outside the configured bounds"
        steps.append(Step("bounds", value, clamped, f"clamped to [{low:g}, {high:g}]: {why}"))
        value = clamped
    proposal = value
    if current is None:
        return _finish(pool, base, steps, effective, proposal, held=False, low=low, high=high)

    if value > current and options.raise_after_runs > 1:
        streak = 1
        for earlier in reversed(recent):
            if earlier <= current:
                break
            streak += 1
        needed = options.raise_after_runs
        if streak < needed:
            steps.append(Step("confirm raise", value, current, f"raise proposed on {streak} of {needed} runs in a row"))
            return _finish(pool, base, steps, effective, proposal, held=True, low=low, high=high, value=current)
        agreed = min([value, *recent[-(needed - 1) :]])
        if agreed != value:
            steps.append(Step("confirm raise", value, agreed, f"the lowest raise of the last {needed} runs"))
            value = agreed
    if value > current:
        caps = [Decimal(str(current)) + options.max_raise] if options.max_raise is not None else []
        if options.max_raise_pct is not None:
            caps.append(Decimal(str(current)) * (1 + options.max_raise_pct / 100))
        if caps:
            # "At most N lines or P%": whichever allows more, so a small limit is not stuck crawling up
            # 20% at a time (from 1 after a night at the minimum) while a large one still rises gently.
            cap = max(caps)
            # A whole line at least: floor(4 x 1.2) is 4, and a small limit could otherwise never rise.
            capped = _num(cap) if ratio else max(math.floor(cap), int(current) + 1)
            if capped < value:
                steps.append(Step("raise step", value, max(capped, current), "raised by at most the step limit"))
                value = max(capped, current)
    elif value < current and options.max_lower_pct is not None:
        floor_value = Decimal(str(current)) * (1 - options.max_lower_pct / 100)
        floored = _num(math.ceil(floor_value) if not ratio else floor_value)
        if floored > value:
            steps.append(Step("lower step", value, floored, f"lowered by at most {options.max_lower_pct}%"))
            value = floored
    band = max(options.deadband, Decimal(str(current)) * options.deadband_pct / 100)
    if value != current and band and abs(Decimal(str(value)) - Decimal(str(current))) < band:
        steps.append(
            Step("deadband", value, current, f"a change smaller than {band.normalize():f} is not worth a write")
        )
        return _finish(pool, base, steps, effective, proposal, held=True, low=low, high=high, value=current)
    return _finish(pool, base, steps, effective, proposal, held=value == current, low=low, high=high, value=value)


def _finish(
    pool: Pool,
    base: Decision,
    steps: list[Step],
    effective: Decimal,
    proposal: Value,
    *,
    held: bool,
    low: Value,
    high: Value,
    value: Value | None = None,
) -> Evaluation:
    limit = proposal if value is None else value
    if not low <= limit <= high:
        # A value in force outside today's bounds is never kept: the bounds win over hold and deadband.
        bounded = min(max(limit, low), high)
        steps.append(Step("bounds", limit, bounded, f"the value in force is outside [{low:g}, {high:g}]"))
        limit, held = bounded, False
    reasons = tuple(step.note for step in steps[1:] if step.rule == "base rule" or step.fired)
    decision = Decision(
        limit=limit, raw=base.raw, available=pool.available, total=pool.total, reasons=reasons, rule=base.rule
    )
    return Evaluation(decision, tuple(steps), effective, proposal, held)
