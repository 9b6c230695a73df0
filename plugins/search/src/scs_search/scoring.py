"""The relevance score of a message for a query: one number in 0..100.

Both the query and the text are the prepared (lower-cased) strings of ``text.py``.

``score = max(PR, 0.99 * TS)``

- ``PR`` is RapidFuzz ``partial_ratio(query, text)``: how well the query, as typed,
  matches the best window of the text. It is 100 exactly when the query occurs
  verbatim (the exact phrase), so a phrase match always ranks first.
- ``TS`` is the token score: the query is cut into its words (runs of letters and
  digits: ``get_user_by_id`` gives get, user, by, id); each word gets its own
  ``partial_ratio`` with the text, and ``TS`` is their mean weighted by word length.
  Word order does not matter and a partial or misspelt word only lowers its own part.
  Every word present exactly gives ``TS = 100``, so ``0.99 * TS = 99``: below an exact
  phrase (100), above any fuzzy match of the words.
- A query of a single word (its only token is the query itself) scores ``PR``.

The score is never below ``PR``, the 1.x score (``LEGACY``): whatever a 1.x
``fuzzy_threshold`` found, it still finds. Ties are broken by recency (the newest
message id first) by the callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

TOKEN_FACTOR = 0.99  # all words exact (99) ranks below the exact phrase (100)
MAX_TOKENS = 12  # words beyond these are scored through PR only (bounded work)
WORD = re.compile(r"[^\W_]+")  # a query word (also ``locality``'s tokens)


@dataclass(frozen=True)
class Query:
    """A prepared query, its words and their weights; ``legacy`` scores with PR only."""

    text: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    legacy: bool = False

    @property
    def total_weight(self) -> float:
        return float(sum(self.weights))


@lru_cache(maxsize=512)
def make_query(prepared: str, legacy: bool = False) -> Query:
    """The ``Query`` for a prepared (lower-cased) query string."""
    words: list[str] = []
    for word in WORD.findall(prepared):
        if word not in words:
            words.append(word)
    words = words[:MAX_TOKENS]
    if legacy or words == [prepared] or not words:
        return Query(prepared, (), (), legacy)
    return Query(prepared, tuple(words), tuple(float(len(w)) for w in words), legacy)


LEGACY = True  # pass as ``make_query(q, LEGACY)`` for the 1.x score (benchmarks)


def combine(
    partial: npt.NDArray[np.float64],
    token_scores: npt.NDArray[np.float64] | None,
    query: Query,
) -> npt.NDArray[np.float64]:
    """``max(PR, 0.99 * TS)`` per text from PR and the ``(words, texts)`` word scores.

    Summed word by word (element-wise) so that a text gets bit-identical scores
    whether it is scored alone or within a batch.
    """
    import numpy as np

    if token_scores is None or not query.tokens:
        return partial
    total = np.zeros(token_scores.shape[1], dtype=np.float64)
    for weight, row in zip(query.weights, token_scores, strict=True):
        total += weight * row
    token = total * (TOKEN_FACTOR / query.total_weight)
    result: npt.NDArray[np.float64] = np.maximum(partial, token)
    return result


def score_texts(
    query: Query,
    texts: list[str],
    cutoff: float = 0.0,
    partial_rows: npt.NDArray[np.bool_] | None = None,
    token_rows: npt.NDArray[np.bool_] | None = None,
) -> npt.NDArray[np.float64]:
    """The score of each text (0 where it is below ``cutoff``).

    ``partial_rows``/``token_rows`` (optional masks) say which texts may need PR and
    TS; the other part is then taken as 0 for them (the caller knows by the bounds it
    cannot reach ``cutoff``).
    """
    import numpy as np

    partial = np.zeros(len(texts), dtype=np.float64)
    wanted = (
        texts
        if partial_rows is None
        else [t for t, keep in zip(texts, partial_rows, strict=True) if keep]
    )
    if wanted:
        values = process.cdist(
            [query.text],
            wanted,
            scorer=fuzz.partial_ratio,
            processor=None,
            score_cutoff=cutoff,
            dtype=np.float64,
        )[0]
        if partial_rows is None:
            partial = values
        else:
            partial[partial_rows] = values
    if not query.tokens:
        return partial
    rows = np.arange(len(texts)) if token_rows is None else np.flatnonzero(token_rows)
    tokens = _token_scores(query, texts, rows, cutoff)
    scores = combine(partial, tokens, query)
    scores[scores < cutoff] = 0.0
    return scores


def _token_scores(
    query: Query, texts: list[str], rows: npt.NDArray[np.intp], cutoff: float
) -> npt.NDArray[np.float64]:
    """The ``(words, texts)`` word scores of ``rows`` (zeros elsewhere).

    Words are scored heaviest first, each only on the rows whose ``TS`` can still reach
    ``cutoff`` (the words not scored yet counted at 100), and RapidFuzz gets the lowest
    score the word needs as its ``score_cutoff``. A row dropped on the way has all its
    word scores at 0: its true ``0.99 * TS`` is below ``cutoff``.
    """
    import numpy as np

    tokens = np.zeros((len(query.tokens), len(texts)), dtype=np.float64)
    need = cutoff * query.total_weight / TOKEN_FACTOR  # the weighted sum TS needs
    gathered = np.zeros(len(texts), dtype=np.float64)
    remaining = query.total_weight
    order = sorted(range(len(query.tokens)), key=lambda i: -query.weights[i])
    for position in order:
        if rows.size == 0:
            break
        weight = query.weights[position]
        remaining -= weight
        lowest = (need - float(gathered[rows].max()) - 100.0 * remaining) / weight
        values = process.cdist(
            [query.tokens[position]],
            [texts[row] for row in rows.tolist()],
            scorer=fuzz.partial_ratio,
            processor=None,
            score_cutoff=max(0.0, lowest - 0.01),  # RapidFuzz may drop an exact tie
            dtype=np.float64,
        )[0]
        tokens[position, rows] = values
        gathered[rows] += weight * values
        alive = gathered[rows] + 100.0 * remaining >= need - 1e-6
        rows = rows[alive]
    dead = np.ones(len(texts), dtype=bool)
    dead[rows] = False
    tokens[:, dead] = 0.0
    return tokens


def score(query: str, text: str, legacy: bool = False) -> float:
    """The score of one prepared text for one prepared query (the brute-force oracle).

    Plain Python, the same float operations in the same order as ``combine``: the
    result is bit-identical to ``score_texts``.
    """
    prepared = make_query(query, legacy)
    partial = float(fuzz.partial_ratio(prepared.text, text))
    if not prepared.tokens:
        return partial
    total = 0.0
    for weight, word in zip(prepared.weights, prepared.tokens, strict=True):
        total += weight * float(fuzz.partial_ratio(word, text))
    return max(partial, total * (TOKEN_FACTOR / prepared.total_weight))
