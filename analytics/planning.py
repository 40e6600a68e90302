"""Planning: how many responses a figure needs.

Reference: Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., section 4.4. Wiley.
"""

from __future__ import annotations

import math
import numbers

from analytics._validate import check_confidence
from analytics.proportion import z_value

__all__ = ["sample_size"]


def sample_size(
    margin: float,
    *,
    p: float = 0.5,
    confidence: float = 0.95,
    population: int | None = None,
    deff: float = 1.0,
) -> int:
    """Responses needed for a margin of error ``margin`` (half-width, as a share) at ``p``.

    Cochran: ``n0 = z^2 p (1 - p) / margin^2``, multiplied by the design effect ``deff``; then,
    with a finite population of ``N`` units, ``n = n0 / (1 + (n0 - 1) / N)``; rounded up. ``z``
    is ``norm.ppf(1 - alpha/2)``. ``p = 0.5`` is the conservative planning value; at ``p = 0.9``
    and a 3 % margin, 385 responses.

    Raises ``ValueError`` unless ``0 < margin < 1``, ``0 < p < 1``, ``deff > 0``,
    ``population >= 1`` and ``confidence`` in (0, 1).
    """
    level = check_confidence(confidence)
    for name, value in (("margin", margin), ("p", p)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    if isinstance(deff, bool) or not isinstance(deff, numbers.Real) or not 0 < deff < math.inf:
        raise ValueError(f"deff must be a positive number, got {deff!r}")
    z = z_value(level)
    n0 = z * z * p * (1.0 - p) / (margin * margin) * deff
    if population is not None:
        if isinstance(population, bool) or not isinstance(population, numbers.Real):
            raise ValueError(f"population must be a positive number, got {population!r}")
        if not 1 <= population < math.inf:
            raise ValueError(f"population must be at least 1, got {population!r}")
        n0 = n0 / (1.0 + (n0 - 1.0) / population)
    # Round up, ignoring floating-point noise of a few ulps above a whole number.
    return max(1, math.ceil(n0 - 1e-9 * max(1.0, n0)))
