"""Upper bounds of a row's score from its gram signatures (see ``grams``), per row.

``bounds`` gives each row's bound of ``PR`` and of ``0.99 x TS`` (``scoring``); with
``bigrams_only`` a looser one at half the cost (the trigram lines are not read).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scs_search import grams
from scs_search.scoring import TOKEN_FACTOR

if TYPE_CHECKING:
    from scs_search.index import Snapshot
    from scs_search.scoring import Query

# bounds get a hair of room so float rounding never prunes a row that ties
EPSILON = 1e-9


def bounds(
    snapshot: Snapshot,
    query: Query,
    rows: npt.NDArray[np.int64],
    with_metadata: bool,
    bigrams_only: bool = False,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Upper bounds of each row's PR and ``0.99 * TS`` (see ``grams`` and ``scoring``).

    At most 100 (no score is higher); the token bound is 0 for a query without words.
    ``bigrams_only``: a looser bound at half the cost (trigrams taken as all present).
    """
    lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[rows]
    seen: tuple[dict[int, grams.U8], dict[int, grams.U8]] = ({}, {})
    bounder = functools.partial(word_bounds, bigrams_only=bigrams_only)
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
    full = 0.0
    for weight in query.weights:
        full += weight * 100.0
    tokens[total < full] += EPSILON
    return partial, tokens


def word_bounds(
    snapshot: Snapshot,
    word: str,
    rows: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int32],
    seen: tuple[dict[int, grams.U8], dict[int, grams.U8]],
    bigrams_only: bool = False,
) -> npt.NDArray[np.float64]:
    """An upper bound of each row's ``partial_ratio`` with ``word`` (or the whole query)."""
    query = grams.query_grams(word)
    if query.positions2 == 0:
        return np.full(len(rows), np.inf)
    absent2 = query.positions2 - grams.present_counts(
        grams.bigram_lines(snapshot.signatures), query.hashes2, query.repeats2, rows, seen[0]
    )
    table = grams.bound_table(len(word), query.positions2, query.positions3)
    if bigrams_only:  # the table only falls as more positions are absent
        bounds: npt.NDArray[np.float64] = table[:, 0][absent2] + EPSILON
    else:
        absent3 = query.positions3 - grams.present_counts(
            grams.trigram_lines(snapshot.signatures), query.hashes3, query.repeats3, rows, seen[1]
        )
        bounds = table[absent2, absent3] + EPSILON
    # texts not longer than the query: the roles swap inside partial_ratio, no bound
    bounds[lengths <= len(word)] = np.inf
    return bounds
