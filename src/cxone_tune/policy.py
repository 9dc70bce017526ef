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
