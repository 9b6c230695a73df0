"""The order in which ``ranking.rank`` looks at rows: tiers of falling cheap bounds.

Every candidate row gets a cheap upper bound of its score (``bounds`` with bigrams
only); rows are handed out in tiers, the highest cheap bounds first (the first tier
``FIRST_TIER`` rows, each next one twice the last), so a search that finds its
``limit`` results early computes the full bound and sorts only a few thousand rows, not
every visible row of a corpus of a million. Every row of a later tier has a lower
cheap bound than every row of an earlier one.

Under ``DENSE_MIN_ROWS`` candidates (a session) all of them are one tier. Over more
the cheap bound is not computed per row: a row's bigram counts (the
whole query's and each word's) select a *cell* of a small table of bounds computed
once per query; rows are grouped by cell (a histogram), and a tier is a set of cells.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scs_search import grams
from scs_search.bounds import EPSILON, EveryRow, bounds, every_word_exact
from scs_search.compiled import kernel
from scs_search.scoring import TOKEN_FACTOR

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scs_search.index import Snapshot
    from scs_search.scoring import Query

FIRST_TIER = 8_192
# fewer candidate rows (a session): one tier, as cheap as the tiers' bookkeeping would be
# (a full scan of 10,000 rows cost ~40 % more CPU in tiers)
DENSE_MIN_ROWS = 20_000
MAX_CELLS = 1 << 16  # a query whose table would be larger: row by row

Rows = npt.NDArray[np.int64]
Tier = tuple[Rows, float]  # rows (ascending), the highest cheap bound among them


def tiers(
    snapshot: Snapshot,
    query: Query,
    wanted: npt.NDArray[np.bool_],
    bar: float,
    with_metadata: bool,
    every_row: EveryRow,
) -> tuple[int, int, Iterator[Tier]]:
    """How many rows are candidates (``wanted``), how many of them the tiers hand out
    (their cheap bound reaches ``bar``), and the tiers (over ``DENSE_MIN_ROWS``, the
    bigrams of ``every_row`` give the cheap bounds)."""
    visible = int(np.count_nonzero(wanted))
    rows = np.flatnonzero(wanted).astype(np.int64)
    if visible < DENSE_MIN_ROWS:  # one session: one tier, full bounds and one sort
        return visible, visible, iter([(rows, 100.0)])
    table = cell_table(query)
    if table is not None:
        cells, counts = _cells(snapshot, query, wanted, with_metadata, every_row, len(table))
        return visible, int(counts[table >= bar].sum()), _cell_tiers(counts, cells, table, bar)
    cheap = np.maximum(
        *bounds(snapshot, query, rows, with_metadata, bigrams_only=True, every_row=every_row)
    )
    keep = cheap >= bar
    return visible, int(np.count_nonzero(keep)), _sorted_tiers(rows[keep], cheap[keep])


def _sorted_tiers(rows: Rows, cheap: npt.NDArray[np.float64]) -> Iterator[Tier]:
    waiting, size = np.arange(len(rows)), FIRST_TIER
    while waiting.size:
        if waiting.size <= size:
            tier, waiting = waiting, waiting[:0]
        else:
            values = cheap[waiting]
            cut = np.partition(values, waiting.size - size)[waiting.size - size]
            high = values >= cut  # every row tying the cut: later tiers are strictly lower
            tier, waiting = waiting[high], waiting[~high]
        size *= 2
        yield np.sort(rows[tier]), float(cheap[tier].max())


def cell_table(query: Query) -> npt.NDArray[np.float64] | None:
    """The cheap bound of each cell (absent bigram positions of the whole query, then of
    each word, in C order), then 100 (a text not longer than the query: no bound)
    and ``-inf`` (not a candidate); None when the table would exceed ``MAX_CELLS``."""
    words = [query.text, *query.tokens]
    shapes = [grams.query_grams(word) for word in words]
    if any(shape.positions2 == 0 for shape in shapes):
        return None
    sizes = [shape.positions2 + 1 for shape in shapes]
    if math.prod(sizes) > MAX_CELLS:
        return None
    axes = [
        grams.bound_table(len(word), shape.positions2, shape.positions3)[:, 0] + EPSILON
        for word, shape in zip(words, shapes, strict=True)
    ]
    table = np.minimum(axes[0], 100.0)  # as ``bounds`` caps the whole query's bound
    if query.tokens:  # as ``bounds`` computes the word bound, cell by cell
        total = np.zeros(sizes[1:], dtype=np.float64)
        for axis, (weight, axis_values) in enumerate(zip(query.weights, axes[1:], strict=True)):
            shape = [1] * len(query.tokens)
            shape[axis] = -1
            total = total + weight * np.minimum(axis_values, 100.0).reshape(shape)
        token = total * (TOKEN_FACTOR / query.total_weight)
        token = np.where(total < every_word_exact(query), token + EPSILON, token)
        table = np.maximum(table.reshape(-1, *[1] * len(query.tokens)), token[None, ...])
    return np.concatenate([table.ravel(), [100.0, -np.inf]])


def _cells(
    snapshot: Snapshot,
    query: Query,
    wanted: npt.NDArray[np.bool_],
    with_metadata: bool,
    every_row: EveryRow,
    places: int,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """Each row's cell of ``cell_table`` (the first ``snapshot.n`` rows; ``places``
    cells), and how many rows each cell holds (the compiled kernel: in one pass)."""
    n = snapshot.n
    lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[:n]
    if kernel is not None:
        cells = np.empty(n, dtype=np.int32)
        counts = np.empty(places, dtype=np.int64)
        kernel.cell_counts(
            every_row.grams(bigrams_only=True), lengths, len(query.text),
            wanted.view(np.uint8), cells, counts,
        )  # fmt: skip
        return cells, counts
    cells = np.zeros(n, dtype=np.int32)
    count = 1
    for word in [query.text, *query.tokens]:
        shape = grams.query_grams(word)
        present = every_row.present(2, word)
        cells *= shape.positions2 + 1
        cells += shape.positions2
        cells -= present
        count *= shape.positions2 + 1
    cells[lengths <= len(query.text)] = count  # no bound: 100
    cells[~wanted] = count + 1  # -inf
    return cells, np.bincount(cells, minlength=places)


def _cell_tiers(
    counts: npt.NDArray[np.int64],
    cells: npt.NDArray[np.int32],
    table: npt.NDArray[np.float64],
    bar: float,
) -> Iterator[Tier]:
    order = np.argsort(-table, kind="stable")
    order = order[(counts[order] > 0) & (table[order] >= bar)]
    if order.size == 0:
        return
    before = np.cumsum(counts[order]) - counts[order]  # rows in the cells ahead of each
    # tier t holds the cells starting within FIRST_TIER * (2**t - 1) .. (2**(t+1) - 1)
    tier_of_cell = np.floor(np.log2(before / FIRST_TIER + 1)).astype(np.int32)
    tier_of = np.full(len(table), -1, dtype=np.int32)
    tier_of[order] = tier_of_cell
    row_tier = tier_of[cells]
    starts = np.flatnonzero(np.diff(tier_of_cell, prepend=-1))
    for start in starts.tolist():
        tier = int(tier_of_cell[start])
        yield np.flatnonzero(row_tier == tier).astype(np.int64), float(table[order[start]])
