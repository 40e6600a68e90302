"""Cochran's sample size (Cochran 1977, section 4.4), by hand from the formula."""

import math

import pytest
from scipy.stats import norm

from analytics import sample_size

Z = norm.ppf(0.975)


def test_documented_examples() -> None:
    assert sample_size(0.03, p=0.9) == 385  # statistics.md section 6: 384.15 -> 385
    assert sample_size(0.05) == 385  # 1.959964^2 * 0.25 / 0.0025 = 384.15
    assert sample_size(0.03) == 1068  # 1067.07
    assert sample_size(0.05, confidence=0.99) == 664  # 2.5758^2 * 0.25 / 0.0025 = 663.49


@pytest.mark.parametrize(
    ("margin", "p", "population", "deff"),
    [(0.05, 0.5, 500, 1.0), (0.03, 0.9, 2000, 1.5), (0.02, 0.85, 10_000, 2.0), (0.1, 0.5, 50, 1.0)],
)
def test_matches_cochran_by_hand(margin: float, p: float, population: int, deff: float) -> None:
    n0 = Z**2 * p * (1 - p) / margin**2 * deff  # design effect first ...
    n = n0 / (1 + (n0 - 1) / population)  # ... then the finite-population correction
    result = sample_size(margin, p=p, population=population, deff=deff)
    assert result == math.ceil(n)
    assert result <= population


def test_finite_population_and_design_effect_examples() -> None:
    assert sample_size(0.05, population=500) == 218  # 384.15 / (1 + 383.15/500) = 217.49
    assert sample_size(0.03, p=0.9, deff=2.0) == 769  # 768.29
    assert sample_size(0.03, p=0.9, population=1) == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0.0,), {}, "margin"),
        ((1.0,), {}, "margin"),
        ((0.05,), {"p": 0.0}, "p must"),
        ((0.05,), {"p": 1.2}, "p must"),
        ((0.05,), {"deff": 0.0}, "deff"),
        ((0.05,), {"population": 0}, "population"),
        ((0.05,), {"confidence": 1.0}, "confidence"),
    ],
)
def test_impossible_input_raises(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_size(*args, **kwargs)
