"""Word bounds that know where a row's characters are: a token stream over a vocabulary.

A row's text is cut into *tokens* (runs of letters and digits, the query words'
alphabet: ``scoring`` cuts the query the same way) and *separators* (every other
character). A query word is made of token characters only, so a separator character
never matches any of its characters. For a word ``q`` of length ``m`` and a text longer
than ``m``, RapidFuzz ``partial_ratio`` is the best of

- the interior windows (exactly ``m`` characters): ``100 * L / m``, ``L`` the longest
  common subsequence (LCS) of ``q`` and the window;
- the text's prefixes and suffixes shorter than ``m``: ``200 * L / (m + len)``.

An interior window covers pieces of one or more consecutive tokens, one separator
(at least) between two pieces. So, per token ``t`` of the vocabulary (computed once
per word, not per row):

- one piece: ``L <= LCS(q, t)`` (``partial_ratio(q, t)`` bounds it for a token longer
  than ``m``, whose own windows are the text's);
- two pieces, a suffix of ``t_i`` then a prefix of ``t_i+1`` (at most ``m - 1``
  characters together): the matches of the suffix come before those of the prefix in
  ``q``, so ``L <= max_j LCS(q[:j], suffix) + LCS(q[j:], prefix) <= m - 1``: this is
  what knows adjacency ("policy" against "xpol icyx" is 83.3 through "pol ic", while
  neither token alone reaches it);
- three or more pieces (``t_i+1`` whole in the middle): ``L <= m - 2`` and
  ``L <= LCS(q, suffix of t_i) + LCS(q, t_i+1) + (m - 3 - len(t_i+1))``;
- the edges: a prefix of the text either lies in its first token
  (``200 L / (m + L)``, ``L <= LCS(q, t_0[:m-1])``) or covers the whole first token, a
  separator and more (``L <= min(m - 2, LCS(q, t_0) + m - 2 - len(t_0))``, length at
  most ``m - 1``); the suffix likewise with the last token.

The row's bound is the highest of these over its tokens and adjacent token pairs
(``word_bounds``): never below the word's true ``partial_ratio``. Tokens are stored as
16-bit *buckets* (a token's id modulo 65,536); a bucket's values are the highest of its
tokens', so a collision only loosens the bound.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import LCSseq

from scs_search.scoring import WORD as TOKEN  # the query words' alphabet

BUCKETS = 1 << 16
CACHED_WORDS = 64
LONGEST = 32_767  # token lengths are kept as int16 (a longer one counts as this)

F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]
I64 = npt.NDArray[np.int64]
U16 = npt.NDArray[np.uint16]


def split(text: str, base: int) -> tuple[list[str], int]:
    """The tokens of ``text`` and how many lie in its first ``base`` characters (the
    text without metadata ends there, before a separator, so no token straddles it)."""
    head = TOKEN.findall(text, 0, base)
    return head + TOKEN.findall(text, base), len(head)


@dataclass(frozen=True)
class WordTables:
    """A target's values per bucket (see the module doc). The target is a query word,
    or a whole query: its token characters ``T`` (length ``m``) are matched by tokens,
    its ``extra`` other characters at best by separators; windows have ``window``
    characters (the target's length)."""

    letters: str  # T
    m: int
    window: int
    extra: int
    single: F64  # the one-piece bound, as a score
    suffix: I16  # (m + 1, buckets): LCS(T[:j], the token's last window - 1 characters)
    prefix: I16  # (m + 1, buckets): LCS(T[j:], the token's first window - 1 characters)
    whole: I16  # LCS(T, t)
    length: I16  # len(t) (at most 32,767)
    first_edge: F64  # the text's prefixes inside its first token, as a score
    last_edge: F64  # the text's suffixes inside its last token, as a score


class Vocabulary:
    """Every distinct token seen, its id (its bucket is the id modulo ``BUCKETS``), and
    the per-word tables of the words searched lately."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        self.buckets = buckets  # fewer only in tests (collisions on purpose)
        self.ids: dict[str, int] = {}
        self.words: list[str] = []
        self._word_bytes = 0
        self._tables: OrderedDict[str, tuple[int, WordTables]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, tokens: list[str]) -> list[int]:
        """The buckets of ``tokens`` (new tokens join the vocabulary)."""
        ids = self.ids
        out = []
        for token in tokens:
            ident = ids.get(token)
            if ident is None:
                ident = ids[token] = len(self.words)
                self.words.append(token)
                self._word_bytes += sys.getsizeof(token)
            out.append(ident % self.buckets)
        return out

    def nbytes(self) -> int:
        """The strings, the dict and list slots (~100 bytes a token), cached tables."""
        tables = sum(2 * t.suffix.nbytes + 40 * len(t.single) for _, t in self._tables.values())
        return self._word_bytes + 100 * len(self.words) + tables

    def tables(self, word: str) -> WordTables:
        """``word``'s tables over the vocabulary as it is now (extended, not recomputed,
        when tokens were added since)."""
        with self._lock:
            size = len(self.words)
            cached = self._tables.get(word)
            if cached is not None and cached[0] == size:
                self._tables.move_to_end(word)
                return cached[1]
            buckets = min(self.buckets, max(size, 1))
            if cached is None or len(cached[1].single) != buckets:
                tables, done = _empty(word, buckets), 0
            else:
                tables, done = cached[1], cached[0]
            _fill(tables, self.words[done:size], done)
            self._tables[word] = (size, tables)
            self._tables.move_to_end(word)
            while len(self._tables) > CACHED_WORDS:
                self._tables.popitem(last=False)
            return tables


def _empty(target: str, buckets: int) -> WordTables:
    letters = "".join(TOKEN.findall(target))
    m, low = len(letters), np.int16(-1000)
    return WordTables(
        letters=letters,
        m=m,
        window=len(target),
        extra=len(target) - m,
        single=np.zeros(buckets),
        suffix=np.full((m + 1, buckets), low, dtype=np.int16),
        prefix=np.full((m + 1, buckets), low, dtype=np.int16),
        whole=np.full(buckets, low, dtype=np.int16),
        length=np.full(buckets, LONGEST, dtype=np.int16),
        first_edge=np.zeros(buckets),
        last_edge=np.zeros(buckets),
    )


def _lcs(queries: list[str], choices: list[str]) -> npt.NDArray[np.int32]:
    values: npt.NDArray[np.int32] = process.cdist(
        queries, choices, scorer=LCSseq.similarity, processor=None, dtype=np.int32
    )
    return values


def _fill(tables: WordTables, tokens: list[str], first: int) -> None:
    """Fold the values of ``tokens`` (ids ``first...``) into their buckets."""
    if not tokens:
        return
    letters, m, w, extra = tables.letters, tables.m, tables.window, tables.extra
    buckets = (np.arange(first, first + len(tokens)) % len(tables.single)).astype(np.int64)
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    whole = _lcs([letters], tokens)[0].astype(np.int64)
    single = 100.0 * np.minimum(whole + extra, w) / w
    long = np.flatnonzero(lengths > w)
    if long.size and not extra:  # a word: the token's own windows are the text's
        single[long] = process.cdist(
            [letters],
            [tokens[i] for i in long.tolist()],
            scorer=fuzz.partial_ratio,
            processor=None,
            dtype=np.float64,
        )[0]
    suffixes = [token[-(w - 1) :] if w > 1 else "" for token in tokens]
    prefixes = [token[: w - 1] for token in tokens]
    suffix = _lcs([letters[:j] for j in range(m + 1)], suffixes)
    prefix = _lcs([letters[j:] for j in range(m + 1)], prefixes)
    # a prefix of the text inside its first token (then separators): L <= len, so the
    # best is L = len = LCS + extra (see the module doc); the suffix likewise
    first = np.minimum(prefix[0].astype(np.int64) + extra, w - 1)
    last = np.minimum(suffix[m].astype(np.int64) + extra, w - 1)
    np.maximum.at(tables.single, buckets, single)
    for j in range(m + 1):
        np.maximum.at(tables.suffix[j], buckets, suffix[j].astype(np.int16))
        np.maximum.at(tables.prefix[j], buckets, prefix[j].astype(np.int16))
    np.maximum.at(tables.whole, buckets, whole.astype(np.int16))
    # a bucket's length is its shortest token's: a shorter middle token leaves more room
    np.minimum.at(tables.length, buckets, np.minimum(lengths, LONGEST).astype(np.int16))
    np.maximum.at(tables.first_edge, buckets, 200.0 * first / (w + first))
    np.maximum.at(tables.last_edge, buckets, 200.0 * last / (w + last))


def word_bounds(
    tables: WordTables, stream: U16, starts: I64, counts: I64, floor: float = 0.0
) -> F64:
    """An upper bound of the target's ``partial_ratio`` with each row whose tokens are
    ``stream[starts[i] : starts[i] + counts[i]]`` (for a row without tokens: what its
    separators can match). The caller handles texts not longer than the target.

    Windows of several pieces get a looser value first (the pieces' best matches, not
    split along the target); only where that reaches ``floor`` is it refined (a score
    the caller does not care about below ``floor`` stays loose, never too low).
    """
    w, extra, m = tables.window, tables.extra, tables.m
    result = np.full(len(starts), 200.0 * extra / (w + extra) if extra else 0.0)
    has = np.flatnonzero(counts > 0)
    if has.size == 0:
        return result
    starts, counts = starts[has], counts[has]
    offsets = np.cumsum(counts) - counts
    total = int(counts.sum())
    positions = np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.int64)
    tokens = stream[positions].astype(np.int64)
    value = tables.single[tokens]
    row_of = np.repeat(np.arange(len(counts)), counts)
    whole = tables.whole.astype(np.int64)
    length = tables.length.astype(np.int64)
    best_suffix, best_prefix = tables.suffix[m].astype(np.int64), tables.prefix[0].astype(np.int64)
    # the fewest matched characters L that scores ``floor`` (100 (L + extra) / w)
    need = int(np.ceil(floor * w / 100.0 - 1e-9)) - extra
    if total > 1:
        pairs = np.flatnonzero(row_of[1:] == row_of[:-1])
        left, right = tokens[pairs], tokens[pairs + 1]
        matched = np.minimum(best_suffix[left] + best_prefix[right], w - 1)
        refine = np.flatnonzero(matched >= need)
        if refine.size:
            some_left, some_right = left[refine], right[refine]
            best = np.full(len(refine), -1000, dtype=np.int16)
            for j in range(m + 1):
                np.maximum(
                    best, tables.suffix[j][some_left] + tables.prefix[j][some_right], out=best
                )
            matched[refine] = np.minimum(best, w - 1)
        # three pieces or more: a suffix of the first token (``a`` characters), the
        # middle one whole, then the rest (the third token's piece, a separator, more)
        inner = pairs[pairs + 2 < total]
        triples = inner[row_of[inner + 2] == row_of[inner]]
        if triples.size:
            first_piece, middle, third = tokens[triples], tokens[triples + 1], tokens[triples + 2]
            cap = w - 3 - length[middle]  # room for the suffix piece
            third_whole, third_length = whole[third], length[third]
            taken = np.maximum(np.minimum(best_suffix[first_piece], cap), 0)
            after = np.minimum(cap, third_whole + np.maximum(0, cap - third_length - 1))
            three = np.where(cap >= 1, np.minimum(taken + whole[middle] + after, w - 2), -1000)
            refine = np.flatnonzero(three >= need)
            if refine.size:
                # the suffix's matches come before the middle's in T (split at j), and
                # the suffix piece is at least as long as its matches and one character
                first_piece, middle, cap = first_piece[refine], middle[refine], cap[refine]
                third_whole, third_length = third_whole[refine], third_length[refine]
                head = np.full(len(refine), -1000, dtype=np.int64)
                for j in range(m + 1):
                    taken = np.maximum(np.minimum(tables.suffix[j][first_piece], cap), 0)
                    rest = cap + 1 - np.maximum(taken, 1)  # w - 2 - len(middle) - a
                    after = np.minimum(rest, third_whole + np.maximum(0, rest - third_length - 1))
                    head = np.maximum(head, taken + tables.prefix[j][middle] + after)
                three[refine] = np.minimum(head, w - 2)
            at = np.searchsorted(pairs, triples)
            matched[at] = np.maximum(matched[at], three)
        value[pairs] = np.maximum(value[pairs], np.minimum(matched + extra, w) * (100.0 / w))
    rows = np.maximum.reduceat(value, offsets)
    first, last = tokens[offsets], tokens[offsets + counts - 1]
    edges = np.maximum(tables.first_edge[first], tables.last_edge[last])
    # an edge covering its whole token, a separator and more (up to w - 1 characters)
    many = counts > 1
    neighbours = (
        (first, np.where(many, tokens[np.minimum(offsets + 1, total - 1)], first)),
        (last, np.where(many, tokens[np.maximum(offsets + counts - 2, 0)], last)),
    )
    for edge, near in neighbours:
        room = w - 2 - length[edge]
        more = np.minimum(room, whole[near] + np.maximum(0, room - length[near] - 1))
        more = np.where(many, np.maximum(more, 0), 0)
        # L <= the prefix's length too, which is at least the token, a separator, one
        matched = np.minimum(whole[edge] + extra + more, w - 1)
        spanning = 200.0 * matched / (w + np.maximum(matched, length[edge] + 2))
        edges = np.where(room >= 1, np.maximum(edges, spanning), edges)
    result[has] = np.maximum(rows, edges)
    return result
