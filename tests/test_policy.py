"""The pacing policy: floor(available x safety_factor), clamped to [min_limit, max_limit], never 0."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxone_tune.policy import Decision, PolicyParams, decide

DEFAULT = PolicyParams(Decimal("0.8"), 1, 50)


def _text(decision: Decision) -> str:
    return " | ".join(decision.reasons).lower()


# -- table ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "total", "params", "limit", "raw"),
    [
        pytest.param(0, 0, DEFAULT, 1, 0, id="no-agents-at-all->min"),
        pytest.param(0, 25, DEFAULT, 1, 0, id="none-available->min"),
        pytest.param(1, 1, DEFAULT, 1, 0, id="one-agent-floor-0->min-1"),
        pytest.param(2, 5, DEFAULT, 1, 1, id="two-agents->1"),
        pytest.param(10, 12, DEFAULT, 8, 8, id="ten->eight"),
        pytest.param(100, 100, PolicyParams(Decimal("0.29"), 1, 50), 29, 29, id="float-trap-0.29x100->29"),
        pytest.param(100, 100, PolicyParams(Decimal("0.57"), 1, 100), 57, 57, id="float-trap-0.57x100->57"),
        pytest.param(10_000, 10_000, DEFAULT, 50, 8_000, id="huge->capped-at-max"),
        pytest.param(63, 63, DEFAULT, 50, 50, id="exactly-max-not-capped"),
        pytest.param(37, 40, PolicyParams(Decimal("1.0"), 1, 50), 37, 37, id="factor-1.0-identity"),
        pytest.param(51, 51, PolicyParams(Decimal(1), 1, 50), 50, 51, id="factor-1-above-max"),
        pytest.param(3, 3, PolicyParams(Decimal("0.8"), 5, 50), 5, 2, id="custom-min"),
        pytest.param(7, 7, PolicyParams(Decimal("0.5"), 3, 3), 3, 3, id="min-equals-max"),
    ],
)
def test_decide_table(available: int, total: int, params: PolicyParams, limit: int, raw: int) -> None:
    decision = decide(available, total, params)
    assert decision.limit == limit
    assert decision.raw == raw
    assert decision.available == available
    assert decision.total == total
    assert decision.reasons


def test_no_agents_reason_says_so_and_that_zero_is_never_written() -> None:
    decision = decide(0, 10, DEFAULT)
    assert decision.limit == 1
    text = _text(decision)
    assert "no agents" in text
    assert "0 is never written" in text
    assert "minimum 1" in text


def test_one_agent_reason_explains_raise_to_minimum() -> None:
    decision = decide(1, 1, DEFAULT)
    assert decision.limit == 1
    text = _text(decision)
    assert "rounded down to 0" in text
    assert "minimum" in text
    assert "no agents" not in text  # one agent is available; the reason must not claim otherwise


def test_capped_reason_names_the_maximum() -> None:
    decision = decide(10_000, 10_000, PolicyParams(Decimal("0.8"), 1, 42))
    assert decision.limit == 42
    text = _text(decision)
    assert "capped" in text
    assert "42" in text


def test_in_bounds_decision_has_no_clamp_reason() -> None:
    decision = decide(10, 10, DEFAULT)
    assert len(decision.reasons) == 1
    assert "capped" not in _text(decision)
    assert "minimum" not in _text(decision)


def test_first_reason_shows_the_arithmetic() -> None:
    decision = decide(100, 100, PolicyParams(Decimal("0.29"), 1, 50))
    first = decision.reasons[0]
    assert "29%" in first
    assert "100" in first
    assert "29" in first


@pytest.mark.parametrize(("available", "total"), [(-1, 0), (0, -1), (-5, -5)])
def test_negative_counts_rejected(available: int, total: int) -> None:
    with pytest.raises(ValueError, match="negative"):
        decide(available, total, DEFAULT)


# -- PolicyParams validation ---------------------------------------------------------------------------------


def test_policy_params_defaults() -> None:
    params = PolicyParams()
    assert params.safety_factor == Decimal("0.8")
    assert params.min_limit == 1
    assert params.max_limit == 50


@pytest.mark.parametrize(
    ("factor", "min_limit", "max_limit"),
    [
        pytest.param(Decimal(0), 1, 50, id="factor-0"),
        pytest.param(Decimal("-0.1"), 1, 50, id="factor-negative"),
        pytest.param(Decimal("1.01"), 1, 50, id="factor-above-1"),
        pytest.param(Decimal("1.5"), 1, 50, id="factor-1.5"),
        pytest.param(Decimal("Infinity"), 1, 50, id="factor-infinity"),
        pytest.param(Decimal("0.8"), 0, 50, id="min-0"),
        pytest.param(Decimal("0.8"), -3, 50, id="min-negative"),
        pytest.param(Decimal("0.8"), 10, 5, id="min-above-max"),
        pytest.param(Decimal("0.8"), 1, 0, id="max-0"),
    ],
)
def test_policy_params_rejects_bad_values(factor: Decimal, min_limit: int, max_limit: int) -> None:
    with pytest.raises(ValueError, match=r"safety_factor|min_limit"):
        PolicyParams(factor, min_limit, max_limit)


@pytest.mark.parametrize("factor", ["NaN", "sNaN", "-Infinity"])
def test_policy_params_rejects_non_finite_factor_with_value_error(factor: str) -> None:
    # Decimal NaN cannot be compared with <: an unguarded check raises InvalidOperation, not ValueError.
    with pytest.raises(ValueError, match="safety_factor"):
        PolicyParams(Decimal(factor), 1, 50)


@pytest.mark.parametrize(
    ("factor", "min_limit", "max_limit"),
    [(Decimal("0.0001"), 1, 1), (Decimal(1), 1, 1), (Decimal("0.8"), 50, 50), (Decimal("0.5"), 1, 10_000)],
)
def test_policy_params_accepts_edge_values(factor: Decimal, min_limit: int, max_limit: int) -> None:
    params = PolicyParams(factor, min_limit, max_limit)
    assert (params.safety_factor, params.min_limit, params.max_limit) == (factor, min_limit, max_limit)


# -- properties ----------------------------------------------------------------------------------------------

factors = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal(1), places=4, allow_nan=False, allow_infinity=False
)


@st.composite
def policy_params(draw: st.DrawFn) -> PolicyParams:
    factor = draw(factors)
    min_limit = draw(st.integers(min_value=1, max_value=200))
    max_limit = draw(st.integers(min_value=min_limit, max_value=2_000))
    return PolicyParams(factor, min_limit, max_limit)


counts = st.integers(min_value=0, max_value=1_000_000)


def oracle(available: int, params: PolicyParams) -> int:
    """The rule computed in exact rational arithmetic, independently of the implementation's Decimal."""
    raw = math.floor(Fraction(available) * Fraction(params.safety_factor))
    return min(params.max_limit, max(params.min_limit, raw))


@given(available=counts, extra=counts, params=policy_params())
def test_limit_within_bounds_and_never_zero(available: int, extra: int, params: PolicyParams) -> None:
    decision = decide(available, available + extra, params)
    assert params.min_limit <= decision.limit <= params.max_limit
    assert decision.limit != 0


@given(available=counts, params=policy_params())
def test_limit_matches_exact_fraction_oracle(available: int, params: PolicyParams) -> None:
    decision = decide(available, available, params)
    assert decision.limit == oracle(available, params)
    assert decision.raw == math.floor(Fraction(available) * Fraction(params.safety_factor))


@given(a=counts, b=counts, params=policy_params())
def test_more_available_never_lowers_the_limit(a: int, b: int, params: PolicyParams) -> None:
    low, high = sorted((a, b))
    assert decide(low, high, params).limit <= decide(high, high, params).limit


@given(available=counts, params=policy_params())
def test_reasons_are_non_empty_strings(available: int, params: PolicyParams) -> None:
    decision = decide(available, available, params)
    assert decision.reasons
    assert all(isinstance(reason, str) and reason.strip() for reason in decision.reasons)
    if decision.limit != decision.raw:
        assert len(decision.reasons) >= 2  # a clamp always says why


@given(percent=st.integers(min_value=1, max_value=100), available=st.integers(min_value=0, max_value=10_000))
def test_decimal_percentages_are_exact(percent: int, available: int) -> None:
    """Factors like 0.29 that binary floats cannot represent must still floor exactly."""
    params = PolicyParams(Decimal(percent) / 100, 1, 1_000_000)
    expected = max(1, (available * percent) // 100)
    assert decide(available, available, params).limit == expected
