"""Sufficient statistics ("moments") of the unweighted index, for figures without raw rows.

``compose_index`` needs one row per respondent. For the unweighted, unstratified design
without finite-population correction (weight 1, each respondent its own cluster) every figure
it reports depends on the rows only through a few sums, which add up over any partition of
the respondents. The database keeps an ``IndexMoments`` per cell (unit, counter, month, ...),
adds each response to its cell, and the dashboard adds the cells of a unit subtree and period
and calls ``index_from_moments``: the same ``IndexReport`` as ``compose_index`` on the rows.

With ``y_ri`` (positive answer) and ``v_ri`` (valid answer) of respondent ``r`` to item ``i``,
the moments are ``Y_i = sum_r y_ri``, ``V_i = sum_r v_ri``, the cross products
``YY_ij = sum_r y_ri y_rj``, ``YV_ij = sum_r y_ri v_rj``, ``VV_ij = sum_r v_ri v_rj``, the
number of respondents ``n``, and for every factor, content and the index the number of
respondents with at least one valid answer to its items (the figure's ``n``: a union count,
which the pairwise sums cannot give).

A figure ``F = sum_i c_i S_i`` (``S_i = Y_i / V_i``; ``c`` from the grouping: a factor is the
mean of its items that have answers, a content the mean of its factors, the index the
weighted mean of its contents) has the per-respondent influence
``z_r = sum_i c_i (y_ri - S_i v_ri) / V_i`` (``analytics.index``), and the linearised variance
with respondents as clusters is ``n / (n - 1) sum_r (z_r - zbar)^2``, where ``zbar = 0``
because ``sum_r (y_ri - S_i v_ri) = Y_i - S_i V_i = 0``::

    sum_r z_r^2 = sum_ij c_i c_j N_ij / (V_i V_j)^2
    N_ij = V_i V_j YY_ij - V_i Y_j YV_ij - Y_i V_j YV_ji + Y_i Y_j VV_ij     (an exact integer)

``N_ij`` is computed in integers, so the centring costs no precision; a figure whose variance
cancels to (nearly) zero is recomputed in exact rational arithmetic. The interval, design
effect, verdict and "more responses" are those of ``compose_index`` (``design_interval``,
Clopper-Pearson fallback at a share of exactly 0 or 1, ``df = n - 1``).

Weighted or stratified figures, or a finite-population correction, need the rows: use
``compose_index``. One deliberate difference: ``compose_index`` raises for a single
respondent (a stratum with one cluster), ``index_from_moments`` reports its figures
(suppressed below ``min_n``, Clopper-Pearson at a share of 0 or 1).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analytics._validate import check_confidence, check_count, check_share
from analytics.index import (
    IndexFigure,
    IndexGrouping,
    IndexReport,
    _answer_matrix,
    _keys,
    assemble_report,
    build_figure,
    settle_levels_of,
)

__all__ = ["MOMENTS_LAYOUT", "IndexMoments", "index_from_moments"]

MOMENTS_LAYOUT = 1
"""Version of the ``to_bytes`` layout, written as the blob's first byte."""

_HEADER = struct.Struct("<B3xI")  # layout version, 3 zero bytes, CRC-32 of the structure
_EXACT = 2**53  # counts above this are not exact in float64
_CANCELLED = 1e-8  # variance below this share of its terms' scale: recompute exactly


def _signature(item_keys: tuple[str, ...], grouping: IndexGrouping) -> tuple[Any, ...]:
    """What the moments depend on: item order, and the item sets behind each group's count.

    Index weights, and the order of keys within a group, do not change the moments.
    """
    if not isinstance(grouping, IndexGrouping):
        raise ValueError(f"grouping must be an IndexGrouping, got {type(grouping).__name__}")
    absent = [item for item in grouping.items if item not in item_keys]
    if absent:
        raise ValueError(f"item_keys have no column for items {absent}")
    factors = tuple(sorted((k, tuple(sorted(v))) for k, v in grouping.factors.items()))
    contents = tuple(sorted((k, tuple(sorted(v))) for k, v in grouping.contents.items()))
    return item_keys, factors, contents, tuple(sorted(grouping.index))


@dataclass(frozen=True, slots=True, eq=False)
class _Layout:
    """Where each sum sits in the packed vector (shared by every moments of one structure)."""

    signature: tuple[Any, ...]
    items: tuple[str, ...]
    factor_keys: tuple[str, ...]  # sorted
    content_keys: tuple[str, ...]  # sorted
    factor_columns: tuple[tuple[int, ...], ...]
    content_columns: tuple[tuple[int, ...], ...]
    index_columns: tuple[int, ...]
    upper: tuple[NDArray[np.intp], NDArray[np.intp]]
    slices: Mapping[str, slice]
    diagonal: NDArray[np.intp]  # positions of [i, i] in the packed upper triangle
    size: int
    crc: int

    @property
    def k(self) -> int:
        return len(self.items)


@lru_cache(maxsize=64)
def _layout_of(signature: tuple[Any, ...]) -> _Layout:
    items, factors, contents, index = signature
    column = {key: j for j, key in enumerate(items)}
    factor_items = dict(factors)
    content_factors = dict(contents)

    def columns_of_factors(keys: Sequence[str]) -> tuple[int, ...]:
        return tuple(sorted({column[i] for f in keys for i in factor_items[f]}))

    k = len(items)
    t = k * (k + 1) // 2
    lengths = {
        "respondents": 1,
        "positive": k,
        "valid": k,
        "yy": t,
        "yv": k * k,
        "vv": t,
        "factors": len(factors),
        "contents": len(contents),
        "index": 1,
    }
    slices, start = {}, 0
    for name, length in lengths.items():
        slices[name] = slice(start, start + length)
        start += length
    text = json.dumps(signature, ensure_ascii=True, separators=(",", ":"))
    return _Layout(
        signature=signature,
        items=items,
        factor_keys=tuple(key for key, _ in factors),
        content_keys=tuple(key for key, _ in contents),
        factor_columns=tuple(columns_of_factors([key]) for key, _ in factors),
        content_columns=tuple(columns_of_factors(members) for _, members in contents),
        index_columns=columns_of_factors([f for c in index for f in content_factors[c]]),
        upper=np.triu_indices(k),
        slices=MappingProxyType(slices),
        diagonal=np.flatnonzero(np.triu_indices(k)[0] == np.triu_indices(k)[1]),
        size=start,
        crc=zlib.crc32(text.encode("ascii")),
    )


def _layout(item_keys: Sequence[str], grouping: IndexGrouping) -> _Layout:
    if isinstance(item_keys, str) or not isinstance(item_keys, Sequence):
        raise ValueError(f"item_keys must be a non-empty list of keys, got {item_keys!r}")
    return _layout_of(_signature(_keys(list(item_keys), "item_keys"), grouping))


def _readonly(array: NDArray[np.int64]) -> NDArray[np.int64]:
    array.flags.writeable = False
    return array


def _decode(blobs: list[Any], layout: _Layout) -> NDArray[np.int64]:
    """Counts of ``to_bytes`` blobs, one row per blob, checked (``ValueError`` if not)."""
    header = _HEADER.pack(MOMENTS_LAYOUT, layout.crc)
    expected = _HEADER.size + 8 * layout.size
    if not all(
        isinstance(blob, bytes | bytearray | memoryview) and len(blob) == expected for blob in blobs
    ):
        _explain_bad_blob(blobs, header, expected)
    # One copy of every blob side by side, headers checked together: a trend reads thousands.
    rows = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), expected)
    if not np.all(rows[:, : _HEADER.size] == np.frombuffer(header, np.uint8)):
        _explain_bad_blob(blobs, header, expected)
    values = np.ascontiguousarray(rows[:, _HEADER.size :]).view("<f8")
    if not (
        np.all(np.isfinite(values))
        and np.all(values >= 0)
        and np.all(values <= _EXACT)
        and np.all(values == np.floor(values))
    ):
        raise ValueError("moments blob holds values that are not counts")
    counts = values.astype(np.int64)
    at = layout.slices
    n = counts[:, :1]
    y, v = counts[:, at["positive"]], counts[:, at["valid"]]
    if not (
        np.all(y <= v)
        and np.all(v <= n)
        and np.array_equal(counts[:, at["yy"]][:, layout.diagonal], y)
        and np.array_equal(counts[:, at["vv"]][:, layout.diagonal], v)
        and np.array_equal(counts[:, at["yv"]][:, :: layout.k + 1], y)
        and np.all(counts[:, at["factors"].start :] <= n)
    ):
        raise ValueError("moments blob holds inconsistent counts")
    return counts


def _explain_bad_blob(blobs: list[Any], header: bytes, expected: int) -> None:
    """Raise the ``ValueError`` that says what is wrong with the first bad blob."""
    for blob in blobs:
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise ValueError(f"blob must be bytes, got {type(blob).__name__}")
        data = bytes(blob)
        if data[: _HEADER.size] != header:
            if len(data) < _HEADER.size:
                raise ValueError(f"moments blob too short ({len(data)} bytes)")
            version, _ = _HEADER.unpack_from(data)
            if version != MOMENTS_LAYOUT:
                raise ValueError(
                    f"moments blob has layout version {version}, expected {MOMENTS_LAYOUT}"
                )
            raise ValueError("moments blob was written for other items or another grouping")
        if len(data) != expected:
            raise ValueError(
                f"moments blob has {len(data)} bytes, expected {expected} (wrong size)"
            )
    raise AssertionError("unreachable: every blob is well formed")


_GROUP_CHUNK_ROWS = 2048  # rows per step of from_groups: ~2048 x layout.size int64 at once
_LARGE_GROUP_ROWS = 12  # from here on a group's matrix products beat adding up its rows


def _checked_answers(
    answers: ArrayLike, item_keys: Sequence[str], grouping: IndexGrouping
) -> tuple[NDArray[np.float64], _Layout]:
    """``answers`` as a float array of 1.0, 0.0 and NaN with one column per item, and its layout
    (``ValueError`` otherwise)."""
    if isinstance(item_keys, str) or not isinstance(item_keys, Sequence):
        raise ValueError(f"item_keys must be a non-empty list of keys, got {item_keys!r}")
    data, keys = _answer_matrix(answers, item_keys)
    return data, _layout(keys, grouping)


def _summed_vector(data: NDArray[np.float64], layout: _Layout) -> NDArray[np.int64]:
    """The packed moments of all rows of ``data`` (checked answers), by matrix products."""
    valid = ~np.isnan(data)
    y = (valid & (data == 1.0)).astype(np.float64)
    v = valid.astype(np.float64)
    # Sums of 0/1 products are integers below 2**53: exact in float64 matrix products.
    yy, yv, vv = y.T @ y, y.T @ v, v.T @ v
    upper = layout.upper

    def answered(columns: tuple[int, ...]) -> int:
        return int(np.count_nonzero(valid[:, list(columns)].any(axis=1))) if columns else 0

    vector = np.concatenate(
        [
            [data.shape[0]],
            y.sum(axis=0),
            v.sum(axis=0),
            yy[upper],
            yv.ravel(),
            vv[upper],
            [answered(c) for c in layout.factor_columns],
            [answered(c) for c in layout.content_columns],
            [answered(layout.index_columns)],
        ]
    )
    return np.rint(vector).astype(np.int64)


def _respondent_vectors(data: NDArray[np.float64], layout: _Layout) -> NDArray[np.int64]:
    """One packed moments vector per row (checked answers): summed over rows, ``from_rows``."""
    rows = data.shape[0]
    valid = ~np.isnan(data)
    y = (valid & (data == 1.0)).astype(np.int64)
    v = valid.astype(np.int64)
    first, second = layout.upper

    def answered(columns: tuple[int, ...]) -> NDArray[np.int64]:
        if not columns:
            return np.zeros(rows, dtype=np.int64)
        return valid[:, list(columns)].any(axis=1).astype(np.int64)

    return np.column_stack(
        [
            np.ones(rows, dtype=np.int64),
            y,
            v,
            y[:, first] * y[:, second],
            (y[:, :, None] * v[:, None, :]).reshape(rows, -1),
            v[:, first] * v[:, second],
            *(answered(c) for c in layout.factor_columns),
            *(answered(c) for c in layout.content_columns),
            answered(layout.index_columns),
        ]
    )


class IndexMoments:
    """Additive sufficient statistics of one questionnaire's unweighted index figures.

    Build with ``IndexMoments.from_rows(answers, item_keys, grouping)`` (one response: a
    one-row array), ``IndexMoments.zero(item_keys, grouping)`` or
    ``IndexMoments.from_bytes(blob, item_keys, grouping)``; add with ``a + b`` or
    ``sum(cells)`` (``0 + m`` is ``m``). Immutable; counts are exact integers.

    Two moments add when they have the same ``item_keys`` (same order) and groupings of the
    same structure (the same items in each factor, factors in each content, contents in the
    index; index weights may differ): otherwise ``ValueError``. The result keeps the left
    operand's grouping.

    Attributes: ``item_keys``, ``grouping``, ``respondents`` (rows), ``positive`` (``Y``) and
    ``valid`` (``V``) per item, ``positive_positive`` (``YY``), ``positive_valid`` (``YV``,
    ``[i, j] = sum_r y_ri v_rj``), ``valid_valid`` (``VV``) as k x k arrays, and
    ``factor_n``, ``content_n``, ``index_n``: respondents with at least one valid answer to
    the group's items, the ``n`` that ``compose_index`` reports for the figure.
    """

    __slots__ = ("_data", "_grouping", "_layout")

    _data: NDArray[np.int64]
    _grouping: IndexGrouping
    _layout: _Layout

    def __init__(self, layout: _Layout, grouping: IndexGrouping, data: NDArray[np.int64]) -> None:
        """Private: use ``from_rows``, ``zero`` or ``from_bytes``."""
        if not isinstance(layout, _Layout):
            raise TypeError("use IndexMoments.from_rows, .zero or .from_bytes")
        object.__setattr__(self, "_layout", layout)
        object.__setattr__(self, "_grouping", grouping)
        object.__setattr__(self, "_data", _readonly(data))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("IndexMoments is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("IndexMoments is immutable")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def zero(cls, item_keys: Sequence[str], grouping: IndexGrouping) -> IndexMoments:
        """Moments of no respondents (the neutral element of ``+``)."""
        layout = _layout(item_keys, grouping)
        return cls(layout, grouping, np.zeros(layout.size, dtype=np.int64))

    @classmethod
    def from_rows(
        cls, answers: ArrayLike, item_keys: Sequence[str], grouping: IndexGrouping
    ) -> IndexMoments:
        """Moments of ``answers`` (respondents x items of 1.0, 0.0, NaN, as ``compose_index``).

        Raises ``ValueError`` for answers that are not 2-D or not 1/0/NaN, item keys not
        matching the columns, or a grouping naming an item without a column.
        """
        data, layout = _checked_answers(answers, item_keys, grouping)
        return cls(layout, grouping, _summed_vector(data, layout))

    @classmethod
    def from_groups(
        cls,
        answers: ArrayLike,
        groups: Sequence[Any],
        item_keys: Sequence[str],
        grouping: IndexGrouping,
    ) -> dict[Any, IndexMoments]:
        """``{g: from_rows(rows of answers whose group is g)}`` for every group in ``groups``
        (one hashable label per row), in one vectorised pass.

        For many small groups (a batch of responses falls into hundreds of cells), where one
        ``from_rows`` per group would spend its time on per-call overhead: small groups are
        added up row by row, in chunks (memory stays bounded however many rows there are), and
        groups of 12 rows or more with ``from_rows``'s matrix products. Same checks and
        ``ValueError`` as ``from_rows``; also when ``groups`` has not one label per row.
        """
        data, layout = _checked_answers(answers, item_keys, grouping)
        if len(groups) != data.shape[0]:
            raise ValueError(f"{len(groups)} group labels for {data.shape[0]} answer rows")
        numbering: dict[Any, int] = {}
        labels = np.fromiter(
            (numbering.setdefault(g, len(numbering)) for g in groups), np.intp, len(groups)
        )
        totals = np.zeros((len(numbering), layout.size), dtype=np.int64)
        order = np.argsort(labels, kind="stable")
        sizes = np.bincount(labels, minlength=len(numbering))
        bounds = np.concatenate([[0], np.cumsum(sizes)])  # each group's slice of `order`
        # A large group is summed with matrix products (from_rows); the rest, row by row.
        for group in np.flatnonzero(sizes >= _LARGE_GROUP_ROWS):
            rows = order[bounds[group] : bounds[group + 1]]
            totals[group] = _summed_vector(data[rows], layout)
        small = order[sizes[labels[order]] < _LARGE_GROUP_ROWS]
        for start in range(0, len(small), _GROUP_CHUNK_ROWS):
            rows = small[start : start + _GROUP_CHUNK_ROWS]
            chunk_labels = labels[rows]
            firsts = np.flatnonzero(np.r_[True, chunk_labels[1:] != chunk_labels[:-1]])
            per_row = _respondent_vectors(data[rows], layout)
            totals[chunk_labels[firsts]] += np.add.reduceat(per_row, firsts, axis=0)
        return {g: cls(layout, grouping, totals[i]) for g, i in numbering.items()}

    @classmethod
    def from_bytes(
        cls, blob: bytes | bytearray | memoryview, item_keys: Sequence[str], grouping: IndexGrouping
    ) -> IndexMoments:
        """Moments stored by ``to_bytes`` for the same items and grouping structure.

        Raises ``ValueError`` for a blob of another layout version, written for other items or
        another grouping structure, of the wrong size, or holding values that are not counts
        (negative, fractional, or inconsistent, e.g. more positive than valid answers).
        """
        layout = _layout(item_keys, grouping)
        return cls(layout, grouping, _decode([blob], layout)[0])

    @classmethod
    def each_from_bytes(
        cls,
        blobs: Iterable[bytes | bytearray | memoryview],
        item_keys: Sequence[str],
        grouping: IndexGrouping,
    ) -> list[IndexMoments]:
        """``[IndexMoments.from_bytes(b, ...) for b in blobs]``, decoded and checked in one
        vectorised pass (a settling batch reads hundreds of cells). Same ``ValueError``."""
        layout = _layout(item_keys, grouping)
        blobs = list(blobs)
        if not blobs:
            return []
        return [cls(layout, grouping, row) for row in _decode(blobs, layout)]

    @classmethod
    def sum_bytes(
        cls,
        blobs: Iterable[bytes | bytearray | memoryview],
        item_keys: Sequence[str],
        grouping: IndexGrouping,
    ) -> IndexMoments:
        """``sum(IndexMoments.from_bytes(b, ...) for b in blobs)`` in one vectorised pass.

        For a dashboard adding thousands of cells; no blobs give ``zero``. Same checks and
        ``ValueError`` as ``from_bytes``, for every blob.
        """
        layout = _layout(item_keys, grouping)
        return cls(layout, grouping, _decode(list(blobs), layout).sum(axis=0))

    @classmethod
    def sum_bytes_by(
        cls,
        keyed_blobs: Iterable[tuple[Any, bytes | bytearray | memoryview]],
        item_keys: Sequence[str],
        grouping: IndexGrouping,
    ) -> dict[Any, IndexMoments]:
        """``{key: sum_bytes(that key's blobs)}`` for ``(key, blob)`` pairs, with every blob
        decoded, checked and added up in one vectorised pass.

        For a dashboard that sums stored rows into cells (a province's 12-month trend reads
        thousands of rows): one ``sum_bytes`` per cell spends its time on per-call overhead.
        Same checks and ``ValueError`` as ``from_bytes``, for every blob.
        """
        layout = _layout(item_keys, grouping)
        numbering: dict[Any, int] = {}
        labels: list[int] = []
        blobs: list[bytes | bytearray | memoryview] = []
        for key, blob in keyed_blobs:
            labels.append(numbering.setdefault(key, len(numbering)))
            blobs.append(blob)
        if not blobs:
            return {}
        label_array = np.asarray(labels, dtype=np.intp)
        order = np.argsort(label_array, kind="stable")
        ordered = label_array[order]
        firsts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        totals = np.add.reduceat(_decode(blobs, layout)[order], firsts, axis=0)
        return {key: cls(layout, grouping, totals[i]) for key, i in numbering.items()}

    def to_bytes(self) -> bytes:
        """An 8-byte header (layout version, CRC-32 of the structure) and float64 LE counts."""
        header = _HEADER.pack(MOMENTS_LAYOUT, self._layout.crc)
        return header + self._data.astype("<f8").tobytes()

    # -- algebra ------------------------------------------------------------------------------

    def __add__(self, other: object) -> IndexMoments:
        if not isinstance(other, IndexMoments):
            return NotImplemented
        if other._layout is not self._layout and other._layout.signature != self._layout.signature:
            if other.item_keys != self.item_keys:
                raise ValueError(
                    f"cannot add moments of different items: {self.item_keys} and {other.item_keys}"
                )
            raise ValueError("cannot add moments of groupings with a different structure")
        return IndexMoments(self._layout, self._grouping, self._data + other._data)

    def __radd__(self, other: object) -> IndexMoments:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self  # sum() starts at 0
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexMoments):
            return NotImplemented
        return self._layout.signature == other._layout.signature and bool(
            np.array_equal(self._data, other._data)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"IndexMoments(items={len(self.item_keys)}, respondents={self.respondents})"

    # -- the sums -----------------------------------------------------------------------------

    def _part(self, name: str) -> NDArray[np.int64]:
        return self._data[self._layout.slices[name]]

    def _symmetric(self, name: str) -> NDArray[np.int64]:
        k = self._layout.k
        full = np.zeros((k, k), dtype=np.int64)
        full[self._layout.upper] = self._part(name)
        full.T[self._layout.upper] = self._part(name)
        return _readonly(full)

    @property
    def item_keys(self) -> tuple[str, ...]:
        return self._layout.items

    @property
    def grouping(self) -> IndexGrouping:
        return self._grouping

    @property
    def respondents(self) -> int:
        return int(self._data[0])

    @property
    def positive(self) -> NDArray[np.int64]:
        return self._part("positive")

    @property
    def valid(self) -> NDArray[np.int64]:
        return self._part("valid")

    @property
    def positive_positive(self) -> NDArray[np.int64]:
        return self._symmetric("yy")

    @property
    def positive_valid(self) -> NDArray[np.int64]:
        k = self._layout.k
        return self._part("yv").reshape(k, k)

    @property
    def valid_valid(self) -> NDArray[np.int64]:
        return self._symmetric("vv")

    @property
    def factor_n(self) -> Mapping[str, int]:
        counts = dict(zip(self._layout.factor_keys, self._part("factors").tolist(), strict=True))
        return MappingProxyType({key: counts[key] for key in self._grouping.factors})

    @property
    def content_n(self) -> Mapping[str, int]:
        counts = dict(zip(self._layout.content_keys, self._part("contents").tolist(), strict=True))
        return MappingProxyType({key: counts[key] for key in self._grouping.contents})

    @property
    def index_n(self) -> int:
        return int(self._part("index")[0])


# -- figures from moments ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Part:
    """A figure's estimate and its coefficients on the item shares (private working type)."""

    estimate: float | None
    coefficients: NDArray[np.float64] | None
    n: int
    extreme: float | None
    items: frozenset[str] = frozenset()
    missing: tuple[str, ...] = ()


def _combine(parts: Sequence[tuple[str, float, _Part]], n: int, k: int) -> _Part:
    """``analytics.index._combine`` on coefficient vectors, in the same float order."""
    present = [(a, c) for _, a, c in parts if c.estimate is not None]
    missing = tuple(key for key, _, c in parts if c.estimate is None)
    if not present:
        return _Part(None, None, 0, None, frozenset(), missing)
    total = sum(a for a, _ in present)
    estimate = 0.0
    coefficients = np.zeros(k)
    extremes = set()
    items: frozenset[str] = frozenset()
    for a, c in present:
        assert c.estimate is not None and c.coefficients is not None
        estimate += a / total * c.estimate
        coefficients += a / total * c.coefficients
        items |= c.items
        extremes.add(c.extreme)
    extreme = extremes.pop() if len(extremes) == 1 else None
    if extreme is not None:
        estimate = extreme
    return _Part(estimate, coefficients, n, extreme, items, missing)


class _Variance:
    """``sum_r z_r^2`` for any coefficient vector, from the integer moments."""

    def __init__(self, moments: IndexMoments) -> None:
        self.moments = moments
        self.respondents = moments.respondents
        self.ready = False

    def _prepare(self) -> None:
        """The integer numerators ``N_ij`` and ``gram[i, j] = N_ij / (V_i V_j)^2``.

        ``N_ij`` is exact either way: in int64 while its terms (products of three counts) cannot
        overflow, which covers any province's year and is ~10 times faster than Python ints
        (a dashboard builds dozens of reports per page); in Python ints above that."""
        moments = self.moments
        parts = (
            moments.positive,
            moments.valid,
            moments.positive_positive,
            moments.positive_valid,
            moments.valid_valid,
        )
        largest = max(int(np.abs(part).max(initial=0)) for part in parts)
        exact_in_int64 = 4 * largest**3 < 2**63
        y, v, yy, yv, vv = (part if exact_in_int64 else part.astype(object) for part in parts)
        self.numerators = (
            np.outer(v, v) * yy - np.outer(v, y) * yv - np.outer(y, v) * yv.T + np.outer(y, y) * vv
        )
        self.valid = v
        if exact_in_int64:
            # V_i V_j is exact in float64 (below 2**53); the squares and quotient round once each.
            products = np.outer(v, v).astype(np.float64)
            squares = products * products
            self.gram = self.numerators.astype(np.float64) / np.where(squares == 0, 1.0, squares)
        else:
            squares = np.outer(v, v) ** 2
            self.gram = (self.numerators / np.where(squares == 0, 1, squares)).astype(np.float64)
        self.ready = True

    def _exact_term(self, i: int, j: int) -> Fraction:
        """``N_ij / (V_i V_j)^2`` as an exact fraction (for variances that cancel)."""
        square = (int(self.valid[i]) * int(self.valid[j])) ** 2
        return Fraction(int(self.numerators[i, j]), square or 1)

    def __call__(self, c: NDArray[np.float64]) -> float:
        n = self.respondents
        if n < 2:
            return 0.0  # a single cluster: no variance (R survey, Design.variance)
        if not self.ready:
            self._prepare()
        total = float(c @ self.gram @ c)
        scale = float(np.abs(c) @ np.abs(self.gram) @ np.abs(c))
        if total <= _CANCELLED * scale:
            used = np.flatnonzero(c)
            exact = sum(
                (
                    Fraction(float(c[i])) * Fraction(float(c[j])) * self._exact_term(i, j)
                    for i in used
                    for j in used
                ),
                Fraction(0),
            )
            total = float(exact)
        return n / (n - 1) * max(total, 0.0)


def index_from_moments(
    moments: IndexMoments,
    grouping: IndexGrouping,
    *,
    confidence: float = 0.95,
    target: float | None = None,
    min_n: int = 30,
    settle: Collection[str] | None = None,
) -> IndexReport:
    """Every figure of ``compose_index`` (unweighted, unstratified, no FPC) from moments.

    Parameters are those of ``compose_index``; ``grouping`` must have the structure of the
    moments' grouping (its index weights may differ: the figures use ``grouping``'s). The
    report equals ``compose_index(answers, moments.item_keys, grouping, confidence=...,
    target=..., min_n=...)`` on the rows the moments were built from, to rounding. One
    exception: with a single respondent ``compose_index`` raises (one cluster), while this
    returns the figures (suppressed below ``min_n``; otherwise Clopper-Pearson at a share of 0
    or 1).

    Raises ``ValueError`` for an incompatible grouping, an invalid confidence, target or
    min_n, or (as ``compose_index``) a figure strictly inside (0, 1) that is not suppressed
    with fewer than two respondents (``df < 1``).
    """
    level = check_confidence(confidence)
    goal = None if target is None else check_share(target, "target")
    minimum = check_count(min_n, "min_n")
    settle_levels = settle_levels_of(settle)
    if not isinstance(moments, IndexMoments):
        raise ValueError(f"moments must be IndexMoments, got {type(moments).__name__}")
    layout = moments._layout
    if _signature(layout.items, grouping) != layout.signature:
        raise ValueError("grouping does not have the structure the moments were built with")
    keys, k = layout.items, layout.k
    respondents = moments.respondents
    df = respondents - 1 if respondents else 0
    positive = moments.positive.tolist()
    valid = moments.valid.tolist()
    variance = _Variance(moments)

    item_parts: dict[str, _Part] = {}
    for j, key in enumerate(keys):
        n_valid, n_positive = valid[j], positive[j]
        if n_valid == 0:
            item_parts[key] = _Part(None, None, 0, None)
            continue
        share = n_positive / n_valid
        extreme = share if n_positive in (0, n_valid) else None
        unit = np.zeros(k)
        unit[j] = 1.0
        item_parts[key] = _Part(share, unit, n_valid, extreme, frozenset([key]))

    factor_n, content_n = moments.factor_n, moments.content_n
    factor_parts = {
        key: _combine([(i, 1.0, item_parts[i]) for i in members], factor_n[key], k)
        for key, members in grouping.factors.items()
    }
    content_parts = {
        key: _combine([(f, 1.0, factor_parts[f]) for f in members], content_n[key], k)
        for key, members in grouping.contents.items()
    }
    index_part = _combine(
        [(c, a, content_parts[c]) for c, a in grouping.index.items()], moments.index_n, k
    )

    column = {key: j for j, key in enumerate(keys)}

    def figure(key: str, level_name: str, part: _Part) -> IndexFigure:
        pooled = sum(valid[column[i]] for i in part.items)
        return _figure(
            key,
            level_name,
            part,
            pooled,
            variance,
            df,
            level,
            goal,
            minimum,
            settle=level_name in settle_levels,
        )

    return assemble_report(
        figure,
        item_parts,
        factor_parts,
        content_parts,
        index_part,
        respondents=respondents,
        confidence=level,
        target=goal,
        min_n=minimum,
    )


def _figure(
    key: str,
    level_name: str,
    part: _Part,
    pooled: int,
    variance_of: _Variance,
    df: int,
    confidence: float,
    target: float | None,
    min_n: int,
    *,
    settle: bool = True,
) -> IndexFigure:
    """``analytics.index`` figures, with the variance from the moments."""
    return build_figure(
        key,
        level_name,
        n=part.n,
        estimate=part.estimate,
        has_variance=part.coefficients is not None,
        extreme=part.extreme,
        missing=part.missing,
        variance=lambda: variance_of(part.coefficients),
        pooled=pooled,
        df=df,
        confidence=confidence,
        target=target,
        min_n=min_n,
        settle=settle,
    )
