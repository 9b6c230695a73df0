"""Top-k fuzzy ranking over a snapshot (a session, or the corpus of every session):
exact, but rarely a full scan.

The result is, by definition, what a brute-force scan gives: every visible
message whose ``partial_ratio`` with the query is at least the threshold,
ordered by score then newest id, cut at ``limit``. To get there cheaply:

1. Only rows of the visibility classes the caller may see are considered.
2. Each row gets an upper bound of its score from its bigram and trigram signatures
   (``grams.bound_table``); rows whose bound is under the threshold are
   never scored.
3. Rows are scored by RapidFuzz in batches, highest bound first. Once
   ``limit`` results are known, the k-th best score is the bar: rows whose
   bound is below it are skipped, and RapidFuzz gets it as ``score_cutoff`` so
   it can abandon hopeless rows early. The scan stops when no remaining bound
   reaches the bar.

Over many rows (a corpus) step 2 is split (``tiers``): a cheap bound (bigrams only)
for every row, and the full one only for the tiers of rows the scan reaches. A corpus
also keeps its rows' tokens: once a first batch set the bar, the rows of a tier still
to score get the locality bound too (``locality``: where the characters are, not only
which), the lower of the two kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scs_search import locality
from scs_search.bounds import EveryRow, bounds
from scs_search.budget import CHUNK_WORK, query_factor
from scs_search.scoring import Query, make_query, score_texts
from scs_search.tiers import DENSE_MIN_ROWS, tiers
from scs_search.workers import slices, spread

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from scs_search.budget import Budget
    from scs_search.index import ClassKey, Snapshot

# RapidFuzz can drop a text that scores exactly its score_cutoff (float rounding
# inside the cached scorer): ask it for a little less and compare exact scores here.
SLACK = 0.01
FIRST_BATCH = 512
MAX_BATCH = 16_384
# below this many texts one thread scores them faster than several would
PARALLEL_MIN_TEXTS = 4_096
# the fewest rows of a tier still to score that get the locality bound (a corpus; and
# only when its tables are worth it, ``locality.worth``)
LOCALITY_MIN_ROWS = 4_096


def _score(
    query: Query,
    texts: list[str],
    cutoff: float,
    workers: int,
    partial_rows: npt.NDArray[np.bool_],
    token_rows: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """The score of ``query`` with each text (0 below ``cutoff``), on ``workers`` threads."""
    if workers <= 1 or len(texts) < PARALLEL_MIN_TEXTS:
        return score_texts(query, texts, cutoff, partial_rows, token_rows)
    # a few parts a thread: one the OS runs less does less of them (``spread``)
    step = -(-len(texts) // (4 * workers))
    scores = np.empty(len(texts), dtype=np.float64)

    def score(part: slice) -> None:
        scores[part] = score_texts(query, texts[part], cutoff, partial_rows[part], token_rows[part])

    spread(score, slices(len(texts), step), workers)
    return scores


@dataclass(frozen=True)
class Hit:
    score: float
    message_id: int
    row: int


class Best:
    """The best ``limit`` hits found so far over several snapshots (a search over all)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hits: list[Hit] = []

    def add(self, hits: Sequence[Hit]) -> None:
        merged = sorted([*self.hits, *hits], key=lambda hit: (-hit.score, -hit.message_id))
        self.hits = merged[: self.limit]

    @property
    def floor(self) -> float:
        """The score a new hit must reach to enter (0 until ``limit`` hits are known)."""
        return self.hits[-1].score if len(self.hits) >= self.limit else 0.0

    @property
    def floor_id(self) -> int:
        """The id of the hit at ``floor`` (a tie enters only with a newer id)."""
        return self.hits[-1].message_id if len(self.hits) >= self.limit else 0


def allowed_classes(
    class_keys: Sequence[ClassKey], may_see: Callable[[Mapping[str, Any]], bool]
) -> npt.NDArray[np.bool_]:
    """Which visibility classes (visibility, sender, sender_type) pass ``may_see``."""
    return np.fromiter(
        (may_see({"visibility": v, "sender": s, "sender_type": t}) for v, s, t in class_keys),
        dtype=bool,
        count=len(class_keys),
    )


def row_factor(query: Query) -> float:
    """Work units per scored character of a row: the whole query, then each word."""
    return query_factor(len(query.text)) + len(query.tokens)


def estimated_work(snapshot: Snapshot, query: str | Query, with_metadata: bool) -> float:
    """Work units (see ``budget``) to score every row of ``snapshot``: an upper bound."""
    query = make_query(query) if isinstance(query, str) else query
    lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[: snapshot.n]
    total = float(np.maximum(lengths, len(query.text)).sum(dtype=np.float64))
    return total * row_factor(query)


def rank(
    snapshot: Snapshot,
    query: str | Query,
    threshold: float,
    limit: int,
    allowed: npt.NDArray[np.bool_],
    *,
    with_metadata: bool = True,
    workers: int = 1,
    stats: dict[str, int] | None = None,
    budget: Budget | None = None,
    rows_wanted: npt.NDArray[np.bool_] | None = None,
    floor: float = 0.0,
    floor_id: int = 0,
) -> list[Hit]:
    """The best ``limit`` rows of ``snapshot`` among the allowed classes (see module doc).

    ``rows_wanted`` (one flag per row, optional) narrows the rows further (filters).
    ``floor`` is a score the caller already has ``limit`` hits at or above (other
    sessions of a search over all), the last of them with id ``floor_id``: rows that
    cannot beat it are not scored.
    ``stats``, when given, receives how many rows were visible, how many got the locality
    bound (``tightened``) and how many were scored.
    With a ``budget``, rows are scored in chunks of at most ``CHUNK_WORK`` and scoring
    stops once it is spent (after at least one chunk of the call): the hits are then the
    best of the rows scored, and ``budget.truncated`` is set.
    """
    query = make_query(query) if isinstance(query, str) else query
    n = snapshot.n
    if n == 0 or not allowed.any() or not query.text:
        if stats is not None:
            stats.update(visible=0, scored=0, tightened=0)
        return []
    wanted = allowed[snapshot.classes[:n]]
    if rows_wanted is not None:
        wanted &= rows_wanted[:n]
    bar = max(threshold, floor)
    # a row that can at best tie the bar only enters with a newer id than the k-th hit
    tie_id = floor_id if floor > threshold else 0
    # a cheap bound first (bigrams only, every candidate row), the full one (bigrams and
    # trigrams) only for the rows of the tiers that get that far (``tiers``)
    every_row = EveryRow(snapshot, query)
    visible, waiting, candidates = tiers(snapshot, query, wanted, bar, with_metadata, every_row)
    # many candidates (a corpus): every row's grams counted once for all the tiers
    shared = every_row if visible >= DENSE_MIN_ROWS else None
    factor = row_factor(query)
    scored = 0

    best_scores = np.zeros(0, dtype=np.float64)
    best_ids = np.zeros(0, dtype=np.int64)
    best_rows = np.zeros(0, dtype=np.int64)
    batch = FIRST_BATCH
    tokens = snapshot.tokens if with_metadata and locality.usable(query) else None
    tightened = 0
    for take_rows, top in candidates:
        if top < bar:
            break  # every later tier is lower still
        waiting -= len(take_rows)  # the rows of later tiers
        partial_bounds, token_bounds = bounds(
            snapshot, query, take_rows, with_metadata, every_row=shared
        )
        # a tier of many rows once a bar is known: the locality bound on the rows the
        # gram bounds leave (they cost ~30 ns a row and leave a third fewer for it)
        direct = False
        if tokens is not None and scored > 0:
            keep = np.maximum(partial_bounds, token_bounds) >= bar
            take_rows, partial_bounds, token_bounds = (
                take_rows[keep],
                partial_bounds[keep],
                token_bounds[keep],
            )
            direct = _worth(tokens, query, len(take_rows), waiting)
        if direct:
            assert tokens is not None
            tightened += len(take_rows)
            partial_bounds, token_bounds = _tightened(
                snapshot, tokens, query, take_rows, partial_bounds, token_bounds, bar, workers
            )
        queue = _Queue.of(
            snapshot, query, take_rows, partial_bounds, token_bounds, bar, factor, with_metadata
        )
        position, tighten = 0, tokens is not None and not direct
        while position < len(queue.rows):
            take_rows, row_bounds, ids = queue.rows, queue.bounds, queue.ids
            if row_bounds[position] < bar or (
                row_bounds[position] <= bar and ids[position] < tie_id
            ):
                break  # by bound, then newest id: none of the rest of the tier can enter
            if tighten and scored and _worth(tokens, query, len(take_rows) - position, waiting):
                # the first tier: many rows still to score once its first batch set a bar
                assert tokens is not None
                tighten, rest = False, take_rows[position:]
                tightened += len(rest)
                partial, token = _tightened(
                    snapshot, tokens, query, rest, queue.partial[position:],
                    queue.token[position:], bar, workers,
                )  # fmt: skip
                queue = _Queue.of(snapshot, query, rest, partial, token, bar, factor, True)
                position = 0
                continue
            partial_bounds, token_bounds, work = queue.partial, queue.token, queue.work
            if budget is not None and budget.chunks and budget.spent():
                budget.truncated = True
                break
            spent = float(work[position - 1]) if position else 0.0
            end = min(position + batch, int(np.searchsorted(work, spent + CHUNK_WORK, "right")))
            end = min(max(end, position + 1), len(take_rows))
            chosen = np.arange(position, end)
            position, batch = end, min(batch * 2, MAX_BATCH)
            chosen = chosen[
                (row_bounds[chosen] > bar) | ((row_bounds[chosen] == bar) & (ids[chosen] > tie_id))
            ]
            if chosen.size == 0:
                continue
            take = take_rows[chosen]
            scored += len(take)
            cutoff = max(0.0, bar - SLACK)
            scores = _score(
                query,
                _texts(snapshot, take, with_metadata),
                cutoff,
                workers,
                partial_bounds[chosen] >= cutoff,
                token_bounds[chosen] >= cutoff,
            )
            if budget is not None:
                budget.chunks += 1
            found = scores >= bar
            if not found.any():
                continue
            best_scores = np.concatenate([best_scores, scores[found]])
            best_ids = np.concatenate([best_ids, snapshot.ids[take[found]]])
            best_rows = np.concatenate([best_rows, take[found]])
            best = np.lexsort((-best_ids, -best_scores))[:limit]
            best_scores, best_ids, best_rows = best_scores[best], best_ids[best], best_rows[best]
            if len(best_scores) >= limit:
                kth, kth_id = float(best_scores[-1]), int(best_ids[-1])
                if kth > bar:
                    bar, tie_id = kth, kth_id
                elif kth == bar:  # a row tying the bar must beat both lists' last id
                    tie_id = max(tie_id, kth_id)
        if budget is not None and budget.truncated:
            break
    if stats is not None:
        stats["visible"] = visible
        stats["scored"] = scored
        stats["tightened"] = tightened
    return [
        Hit(float(score), int(ident), int(row))
        for score, ident, row in zip(best_scores, best_ids, best_rows, strict=True)
    ]


def _worth(tokens: locality.TokenStream | None, query: Query, rows: int, later: int) -> bool:
    """Whether ``rows`` rows of a tier still to score are worth the locality bound (its
    tables serve the ``later`` rows of the next tiers too)."""
    return (
        tokens is not None
        and rows >= LOCALITY_MIN_ROWS
        and locality.worth(tokens, query, rows + later)
    )


def _tightened(
    snapshot: Snapshot,
    tokens: locality.TokenStream,
    query: Query,
    rows: npt.NDArray[np.int64],
    partial: npt.NDArray[np.float64],
    token: npt.NDArray[np.float64],
    bar: float,
    workers: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The rows' bounds, each the lower of the given one and the locality bound."""
    tight = locality.query_bounds(
        tokens, query, rows, snapshot.full_len[rows], bar, workers, known=(partial, token)
    )
    if tight is None:
        return partial, token
    return np.minimum(partial, tight[0]), np.minimum(token, tight[1])


@dataclass(frozen=True)
class _Queue:
    """A tier's rows whose bound reaches the bar, by bound then newest id, with the
    work of scoring them (cumulative)."""

    rows: npt.NDArray[np.int64]
    bounds: npt.NDArray[np.float64]
    ids: npt.NDArray[np.int64]
    partial: npt.NDArray[np.float64]
    token: npt.NDArray[np.float64]
    work: npt.NDArray[np.float64]

    @classmethod
    def of(
        cls,
        snapshot: Snapshot,
        query: Query,
        rows: npt.NDArray[np.int64],
        partial: npt.NDArray[np.float64],
        token: npt.NDArray[np.float64],
        bar: float,
        factor: float,
        with_metadata: bool,
    ) -> _Queue:
        row_bounds = np.maximum(partial, token)
        keep = row_bounds >= bar
        rows, row_bounds, partial, token = rows[keep], row_bounds[keep], partial[keep], token[keep]
        ids = snapshot.ids[rows]
        order = np.lexsort((-ids, -row_bounds))
        rows = rows[order]
        lengths = (snapshot.full_len if with_metadata else snapshot.base_len)[rows]
        work = np.cumsum(np.maximum(lengths, len(query.text)) * factor)
        return cls(rows, row_bounds[order], ids[order], partial[order], token[order], work)


def _texts(snapshot: Snapshot, rows: npt.NDArray[np.int64], with_metadata: bool) -> list[str]:
    texts = snapshot.texts
    if with_metadata:
        return [texts[row] for row in rows.tolist()]
    base = snapshot.base_len
    return [texts[row][: base[row]] for row in rows.tolist()]
