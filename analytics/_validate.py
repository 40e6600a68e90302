"""Input checks shared by the analytics modules (private).

Every public function validates its input here so that impossible input fails with one clear
``ValueError`` instead of a NaN or a numpy warning deep in a formula.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

import numpy as np
from numpy.typing import ArrayLike, NDArray


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` as a float, or raise if it is not strictly inside (0, 1)."""
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    value = float(confidence)
    if not 0.0 < value < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return value


def check_method(method: str, allowed: Collection[str]) -> str:
    """Return ``method`` if it is one of ``allowed``, else raise naming the choices."""
    if method not in allowed:
        choices = ", ".join(repr(m) for m in allowed)
        raise ValueError(f"unknown method {method!r}; choose one of {choices}")
    return method


def check_count(value: object, name: str) -> int:
    """Return ``value`` as a non-negative int; integral floats are accepted."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return int(number)


def check_counts(successes: object, n: object) -> tuple[int, int]:
    """Validate a (successes, n) pair: whole numbers, 0 <= successes <= n, and n > 0."""
    x = check_count(successes, "successes")
    size = check_count(n, "n")
    if size == 0:
        raise ValueError("no answers: n = 0 gives no share")
    if x > size:
        raise ValueError(f"successes ({x}) cannot exceed n ({size})")
    return x, size


def check_share(value: object, name: str) -> float:
    """Return ``value`` as a float in the closed interval [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return number


def as_vector(values: ArrayLike, name: str, length: int | None = None) -> NDArray[np.float64]:
    """Return a finite 1-D float array, checking its length against ``length``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(
            f"{name} has length {array.shape[0]}, expected {length} (mismatched lengths)"
        )
    return array


def as_weights(weights: ArrayLike | None, length: int) -> NDArray[np.float64]:
    """Return finite, non-negative weights (all ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(length)
    array = as_vector(weights, "weights", length)
    if not np.all(np.isfinite(array)):
        raise ValueError("weights must be finite numbers")
    if np.any(array < 0):
        raise ValueError("weights must not be negative")
    return array


def as_labels(values: ArrayLike | None, name: str, length: int) -> list[object] | None:
    """Return a list of hashable labels of the given length (None stays None)."""
    if values is None:
        return None
    labels = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if len(labels) != length:
        raise ValueError(f"{name} has length {len(labels)}, expected {length} (mismatched lengths)")
    try:
        for label in labels:
            hash(label)
    except TypeError as exc:
        raise ValueError(f"{name} must hold hashable labels") from exc
    return labels
