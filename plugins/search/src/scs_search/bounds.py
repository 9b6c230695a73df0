"""Upper bounds of a row's score from its gram signatures (see ``grams``), per row.

``bounds`` gives each row's bound of ``PR`` and of ``0.99 x TS`` (``scoring``); with
``bigrams_only`` a looser one at half the cost (the trigram lines are not read).
``EveryRow`` counts the grams of every row once, for a ranking that asks for the
bounds of many rows in several calls (a corpus's tiers).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scs_search import grams
from scs_search.compiled import kernel
from scs_search.scoring import TOKEN_FACTOR

if TYPE_CHECKING:
    from scs_search.index import Snapshot
    from scs_search.scoring import Query

# bounds get a hair of room so float rounding never prunes a row that ties
EPSILON = 1e-9
_NONE = np.zeros(0, dtype=np.uint8)  # no trigram counts: the kernel reads bigrams only


class EveryRow:
    """For one query over one snapshot: how many gram positions of each target (the
    query, each word) every row has, bigrams and trigrams each counted on first use."""

    def __init__(self, snapshot: Snapshot, query: Query) -> None:
        self.snapshot = snapshot
        self.query = query
        self.targets = [query.text, *query.tokens]
        # whether ``bounds`` runs in the compiled kernel (it takes so many targets at most)
        self.compiled = kernel is not None and len(self.targets) <= kernel.MAX_TARGETS
        self._present: dict[int, dict[str, npt.NDArray[np.uint8]]] = {}
        self._grams: dict[bool, tuple[tuple[Any, ...], ...]] = {}

    def present(self, size: int, target: str) -> npt.NDArray[np.uint8]:
        """``target``'s present bigram (``size`` 2) or trigram positions, per row."""
        counted = self._present.get(size)
        if counted is None:
            signatures, n = self.snapshot.signatures, self.snapshot.n
            lines = grams.lines_of(signatures, size)
            seen: dict[int, grams.U8] = {}  # the targets share most lines
            counted = self._present[size] = {}
            for word in self.targets:
                hashes, repeats = grams.query_grams(word).of_size(size)
                counted[word] = grams.line_counts(lines, hashes, repeats, n, seen)
        return counted[target]

    def grams(self, bigrams_only: bool = False) -> tuple[tuple[Any, ...], ...]:
        """Per target (the query, then each word), what the compiled kernel reads: its
        counts of every row, its bound table, its gram positions, length and weight
        (made once, read by every tier)."""
        made = self._grams.get(bigrams_only)
        if made is not None:
            return made
        weights = [0.0, *self.query.weights]
        shaped = []
        for target, weight in zip(self.targets, weights, strict=True):
            shape = grams.query_grams(target)
            three = _NONE if bigrams_only else self.present(3, target)
            table = grams.bound_table(len(target), shape.positions2, shape.positions3)
            shaped.append(
                (self.present(2, target), three, table, shape.positions2, shape.positions3)
                + (len(target), weight)
            )
        made = self._grams[bigrams_only] = tuple(shaped)
        return made

    def bounds(
        self, rows: npt.NDArray[np.int64], with_metadata: bool, bigrams_only: bool
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``bounds`` of ``rows`` by the compiled kernel, in one pass (same values)."""
        assert kernel is not None
        snapshot, query = self.snapshot, self.query
        lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[: snapshot.n]
        partial = np.empty(len(rows), dtype=np.float64)
        token = np.empty(len(rows), dtype=np.float64)
        full = every_word_exact(query)
        factor = TOKEN_FACTOR / query.total_weight if query.tokens else 0.0
        kernel.gram_bounds(
            np.ascontiguousarray(rows, dtype=np.int64), lengths, self.grams(bigrams_only),
            partial, token, factor, full, EPSILON,
        )  # fmt: skip
        return partial, token


def every_word_exact(query: Query) -> float:
    """The weighted total of the word scores when every word scores 100, summed in the
    order ``bounds`` sums the word bounds (a bound below it gets ``EPSILON`` of room)."""
    full = 0.0
    for weight in query.weights:
        full += weight * 100.0
    return full


def bounds(
    snapshot: Snapshot,
    query: Query,
    rows: npt.NDArray[np.int64],
    with_metadata: bool,
    bigrams_only: bool = False,
    every_row: EveryRow | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Upper bounds of each row's PR and ``0.99 * TS`` (see ``grams`` and ``scoring``).

    At most 100 (no score is higher); the token bound is 0 for a query without words.
    ``bigrams_only``: a looser bound at half the cost (trigrams taken as all present).
    ``every_row``: the gram counts of every row, read for these rows (else counted here).
    """
    if every_row is not None and every_row.compiled:
        return every_row.bounds(rows, with_metadata, bigrams_only)
    lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[rows]
    seen: tuple[dict[int, grams.U8], dict[int, grams.U8]] = ({}, {})
    bounder = functools.partial(word_bounds, bigrams_only=bigrams_only, every_row=every_row)
    # no score exceeds 100: a bound of 100 lets a row that can only tie 100 be skipped
    # when it is older than the k-th hit at 100 (many rows hold a common phrase)
    partial = np.minimum(bounder(snapshot, query.text, rows, lengths, seen), 100.0)
    if not query.tokens:
        return partial, np.zeros(len(rows), dtype=np.float64)
    total = np.zeros(len(rows), dtype=np.float64)
    for weight, token in zip(query.weights, query.tokens, strict=True):
        total += weight * np.minimum(bounder(snapshot, token, rows, lengths, seen), 100.0)
    tokens = total * (TOKEN_FACTOR / query.total_weight)
    # every word bound at 100: the bound is the score of every word exact, computed as
    # ``scoring.combine`` computes it, so no room is needed (and ties stay ties)
    tokens[total < every_word_exact(query)] += EPSILON
    return partial, tokens


def word_bounds(
    snapshot: Snapshot,
    word: str,
    rows: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int32],
    seen: tuple[dict[int, grams.U8], dict[int, grams.U8]],
    bigrams_only: bool = False,
    every_row: EveryRow | None = None,
) -> npt.NDArray[np.float64]:
    """An upper bound of each row's ``partial_ratio`` with ``word`` (or the whole query)."""
    query = grams.query_grams(word)
    if query.positions2 == 0:
        return np.full(len(rows), np.inf)

    def present(size: int) -> npt.NDArray[np.integer[Any]]:
        if every_row is not None:
            return every_row.present(size, word)[rows]
        lines = grams.lines_of(snapshot.signatures, size)
        hashes, repeats = query.of_size(size)
        return grams.present_counts(lines, hashes, repeats, rows, seen[size - 2])

    absent2 = query.positions2 - present(2).astype(np.int32, copy=False)
    table = grams.bound_table(len(word), query.positions2, query.positions3)
    if bigrams_only:  # the table only falls as more positions are absent
        bounds: npt.NDArray[np.float64] = table[:, 0][absent2] + EPSILON
    else:
        absent3 = query.positions3 - present(3).astype(np.int32, copy=False)
        # (one flat index: a fancy index of two arrays costs twice as much)
        bounds = table.ravel()[absent2 * table.shape[1] + absent3] + EPSILON
    # texts not longer than the query: the roles swap inside partial_ratio, no bound
    bounds[lengths <= len(word)] = np.inf
    return bounds
