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

- one piece: ``L <= LCS(q, t)``; for a token longer than ``m``, the best LCS of its
  windows of ``m`` characters (any shorter piece of it lies in one of them);
- two pieces, a suffix of ``t_i`` then a prefix of ``t_i+1`` (at most ``m - 1``
  characters together): the matches of the suffix come before those of the prefix in
  ``q``, so ``L <= max_j LCS(q[:j], suffix) + LCS(q[j:], prefix) <= m - 1``: this is
  what knows adjacency ("policy" against "xpol icyx" is 83.3 through "pol ic", while
  neither token alone reaches it);
- three or more pieces (``t_i+1`` whole in the middle, then whatever fits from ``t_i+2``
  on, walked token by token): ``L <= m - 2``, and the matches split twice along ``q``
  (the suffix's in ``q[:j]``, the middle's in ``q[j:k]``, the rest's in ``q[k:]``);
- the edges (the text's first or last ``k < m`` characters, ``200 L / (m + k)``): walking
  the end tokens outwards, the window ends right after a token's possible matches (its
  LCS with ``q``) and goes on only past a token that fits whole; separators count one
  character, tokens their length (all only ever too high a score).

The row's bound is the highest of these over its tokens and adjacent token pairs
(``word_bounds``): never below the word's true ``partial_ratio``. Tokens are stored as
16-bit *buckets* (``Vocabulary.bucket``: the first 61,440 distinct tokens one each, the
later ones sharing the last 4,096); a bucket's values are the highest of its tokens', so
a collision only loosens the bound.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scs_search.bounds import EPSILON
from scs_search.compiled import kernel as _kernel
from scs_search.scoring import TOKEN_FACTOR
from scs_search.scoring import WORD as TOKEN  # the query words' alphabet
from scs_search.workers import slices, spread

if TYPE_CHECKING:
    from types import ModuleType

    from scs_search.scoring import Query


BUCKETS = 1 << 16
CACHED_WORDS = 64
TABLE_BYTES = 64 << 20  # the cached tables of all targets together (LRU beyond)
LONGEST = 32_767  # token lengths are kept as int16 (a longer one counts as this)
# distinct tokens remembered (~100 bytes each); later new tokens are all ``UNKNOWN``
MAX_TOKENS = 1 << 18
UNKNOWN = 0  # the id of every token beyond ``MAX_TOKENS``: its values are the highest
LONGEST_TARGET = 63  # longer targets (query or word) get no locality bound (``pack``)
FIELD = 63  # the largest value a packed field holds (6 bits)
LOW = -100  # an empty bucket's LCS values (no match at all)
PARALLEL_MIN_ROWS = 16_384  # fewer rows: one thread
PARALLEL_MIN_TOKENS = 16_384  # fewer new tokens for a target's tables: one thread
# the time a target's tables take a vocabulary token (~0.12 us measured at 89,880 on one
# thread, with room), and what the bound saves a row it is given (scoring ~5 us of CPU a
# row on two threads; most rows are pruned; the bound costs ~0.3-0.6 us of CPU for the
# targets)
TABLE_US = 0.18
SAVED_US = 2.0

F64 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int8]
I16 = npt.NDArray[np.int16]
I64 = npt.NDArray[np.int64]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
Characters = tuple[npt.NDArray[np.uint32], I64]  # code points, where each token starts


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
    units: I16  # the one-piece bound in characters of the window (it scores 100 units / w)
    suffix: I8  # (buckets, m + 1): LCS(T[:j], the token's last window - 1 characters)
    prefix: I8  # (buckets, m + 1): LCS(T[j:], the token's first window - 1 characters)
    whole: I8  # LCS(T, t)
    length: I16  # len(t) (at most 32,767)
    packed: U32  # what every pair of a row reads, one word a bucket (``pack``)


class Vocabulary:
    """Every distinct token seen, its id and bucket (``bucket``), and the tables of the
    targets searched lately."""

    def __init__(self, buckets: int = BUCKETS, max_tokens: int = MAX_TOKENS) -> None:
        self.buckets = buckets  # fewer only in tests (collisions on purpose)
        # the first tokens seen get a bucket each (the frequent ones are seen early);
        # the later ones share the last ``buckets // 16`` buckets among themselves, so a
        # rare token never loosens the values of a frequent one
        self.unique = buckets - max(1, buckets // 16)
        self.max_tokens = max_tokens
        self.ids: dict[str, int] = {}
        self.words: list[str] = [""]  # id 0 is UNKNOWN
        self._word_bytes = 0
        self._tables: OrderedDict[str, tuple[int, WordTables]] = OrderedDict()
        # the first ``size`` tokens' code points as ``fill_tables`` reads them: every
        # target's first tables need all of them
        self._characters: tuple[int, Characters] | None = None
        self._lock = threading.Lock()

    def encode(self, tokens: list[str]) -> list[int]:
        """The buckets of ``tokens`` (new tokens join the vocabulary)."""
        ids = self.ids
        out = []
        for token in tokens:
            ident = ids.get(token)
            if ident is None:
                if len(self.words) >= self.max_tokens:
                    out.append(UNKNOWN)
                    continue
                ident = ids[token] = len(self.words)
                self.words.append(token)
                self._word_bytes += sys.getsizeof(token)
            out.append(self.bucket(ident))
        return out

    def bucket(self, ident: int) -> int:
        """The bucket of token ``ident``."""
        unique = self.unique
        return ident if ident < unique else unique + (ident - unique) % (self.buckets - unique)

    def buckets_of(self, first: int, last: int) -> I64:
        """The buckets of the tokens ``first...last - 1``."""
        ids = np.arange(first, last, dtype=np.int64)
        unique = self.unique
        shared: I64 = unique + (ids - unique) % (self.buckets - unique)
        return np.where(ids < unique, ids, shared)

    def nbytes(self) -> int:
        """The strings, the dict and list slots (~100 bytes a token), cached tables."""
        return self._word_bytes + 100 * len(self.words) + self.table_nbytes()

    def tables(self, word: str, workers: int = 1) -> WordTables:
        """``word``'s tables over the vocabulary as it is now (extended, not recomputed,
        when tokens were added since); from ``PARALLEL_MIN_TOKENS`` new tokens on, built
        on ``workers`` threads."""
        with self._lock:
            size = len(self.words)
            cached = self._tables.get(word)
            if cached is not None and cached[0] == size:
                self._tables.move_to_end(word)
                return cached[1]
            buckets = min(self.buckets, max(size, 1))
            if cached is None or len(cached[1].units) != buckets:
                tables, done = _empty(word, buckets), 0
            else:
                tables, done = cached[1], cached[0]
            tokens = self.words[done:size]
            if done:
                characters = _concatenated(tokens)
            else:
                if self._characters is None or self._characters[0] != size:
                    self._characters = (size, _concatenated(tokens))
                characters = self._characters[1]
            # two threads must not fold into one bucket: the tokens before ``unique`` have
            # a bucket each, so the first part ends there at the latest
            first = min((size - done) // 2, max(self.unique - done, 0))
            if workers < 2 or size - done < PARALLEL_MIN_TOKENS:
                first = 0
            _fill(tables, self.buckets_of(done, size), characters, first, workers)
            self._tables[word] = (size, tables)
            self._tables.move_to_end(word)
            while len(self._tables) > 1 and (
                len(self._tables) > CACHED_WORDS or self.table_nbytes() > TABLE_BYTES
            ):
                self._tables.popitem(last=False)
            return tables

    def missing_tables(self, targets: list[str]) -> int:
        """How many of ``targets`` have no tables for the vocabulary as it is (each costs
        ``TABLE_US`` a token to build, ``tables``)."""
        size = len(self.words)
        with self._lock:
            return sum(self._tables.get(target, (-1,))[0] != size for target in targets)

    def characters(self) -> tuple[Characters, int]:
        """The code points of the tokens kept since a target's first tables were built,
        and the buckets ``1 .. known - 1`` they tell exactly (one token a bucket)."""
        held = self._characters
        if held is None:
            return (np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)), 0
        size, characters = held
        return characters, min(self.unique, size)

    def drop_tables(self) -> None:
        """Forget every cached table (they are built again when needed)."""
        with self._lock:
            self._tables.clear()
            self._characters = None

    def table_nbytes(self) -> int:
        """The cached tables of the targets searched lately (at most ``TABLE_BYTES``), and
        the code points they are built from."""
        characters = self._characters
        held = sum(array.nbytes for array in characters[1]) if characters else 0
        return held + sum(_nbytes(tables) for _, tables in self._tables.values())


def _nbytes(tables: WordTables) -> int:
    arrays: tuple[npt.NDArray[Any], ...] = (tables.units, tables.suffix, tables.prefix)
    arrays += (tables.whole, tables.length, tables.packed)
    return sum(array.nbytes for array in arrays)


def _empty(target: str, buckets: int) -> WordTables:
    if len(target) > LONGEST_TARGET:  # its values would not fit ``pack``'s fields
        raise ValueError(f"a target of {len(target)} characters (at most {LONGEST_TARGET})")
    letters = "".join(TOKEN.findall(target))
    m, low = len(letters), np.int8(LOW)
    return WordTables(
        letters=letters,
        m=m,
        window=len(target),
        extra=len(target) - m,
        units=np.zeros(buckets, dtype=np.int16),
        suffix=np.full((buckets, m + 1), low, dtype=np.int8),
        prefix=np.full((buckets, m + 1), low, dtype=np.int8),
        whole=np.full(buckets, low, dtype=np.int8),
        length=np.full(buckets, LONGEST, dtype=np.int16),
        packed=np.zeros(buckets, dtype=np.uint32),
    )


def kernel() -> ModuleType:
    """The compiled kernel; without it (no C compiler at install) there are no tables
    and no locality bound (``available``)."""
    if _kernel is None:
        raise RuntimeError("scs_search._locality was not built (no C compiler)")
    return _kernel


def _code_points(text: str) -> npt.NDArray[np.uint32]:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _concatenated(tokens: list[str]) -> Characters:
    """The code points of ``tokens`` one after the other, and where each starts (one
    more: where the last ends). Tokens hold no NUL, which marks their ends here."""
    points = _code_points("\0".join(tokens) + "\0")
    ends = np.flatnonzero(points == 0)
    offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
    offsets[1:] = ends - np.arange(len(tokens))
    return points[points != 0], offsets


def _fill(
    tables: WordTables, buckets: I64, characters: Characters, first: int = 0, workers: int = 1
) -> None:
    """Fold the values of the tokens whose code points are ``characters``
    (``_concatenated``) into their ``buckets`` (one each); when ``first`` is not 0, the
    first ``first`` tokens and the others on two threads (their buckets must differ)."""
    if not len(buckets):
        return
    chars, offsets = characters
    letters = _code_points(tables.letters)

    def run(part: slice) -> None:
        kernel().fill_tables(
            letters, chars, offsets[part.start : part.stop + 1], buckets[part], tables.window,
            tables.units, tables.suffix, tables.prefix, tables.whole, tables.length,
        )  # fmt: skip

    count = len(buckets)
    spread(
        run,
        [slice(0, first), slice(first, count)] if 0 < first < count else [slice(0, count)],
        workers,
    )
    if buckets[0] == UNKNOWN:  # (bucket 0 is id 0's alone) any token: every value highest
        _highest(tables, UNKNOWN)
    np.copyto(tables.packed, pack(tables))


def pack(tables: WordTables) -> U32:
    """Per bucket, what the kernel's pass over a row's pairs and edges reads, one word:
    LCS(T, the token's last window - 1 characters), LCS(T, its first window - 1),
    LCS(T, all of it), its length, 6 bits each from bit 0, and ``units`` from bit 24.
    Every value of a target of at most 63 characters fits, but a length: a longer token
    counts as 63, which leaves no room beside it either. An empty bucket's values count
    as 0 (higher than ``LOW``: only ever looser)."""
    packed = np.zeros(len(tables.units), dtype=np.uint32)
    fields: list[npt.NDArray[Any]] = [tables.suffix[:, tables.m], tables.prefix[:, 0]]
    fields += [tables.whole, tables.length]
    for shift, values in zip((0, 6, 12, 18), fields, strict=True):
        packed |= np.clip(values, 0, FIELD).astype(np.uint32) << np.uint32(shift)
    packed |= tables.units.astype(np.uint32) << np.uint32(24)
    return packed


def _highest(tables: WordTables, bucket: int) -> None:
    m, w = tables.m, tables.window
    tables.units[bucket] = w
    for j in range(m + 1):
        tables.suffix[bucket, j] = min(j, w - 1)
        tables.prefix[bucket, j] = min(m - j, w - 1)
    tables.whole[bucket] = m
    tables.length[bucket] = 1


def word_bounds(
    tables: WordTables,
    tokens: TokenStream,
    rows: I64,
    floor: float = 0.0,
    out: F64 | None = None,
    interior_known: bool = False,
) -> F64:
    """An upper bound of the target's ``partial_ratio`` with each of the ``rows`` of
    ``tokens`` (the compiled kernel, one pass per row; see the module doc), into ``out``
    when given. The caller handles texts not longer than the target.

    Windows of several pieces get a looser value first (the pieces' best matches, not
    split along the target); only where that reaches ``floor`` is it refined (a score
    the caller does not care about below ``floor`` stays loose, never too low): through
    the tables, then, where that still reaches it and the tokens are ones the
    vocabulary keeps the characters of (``Vocabulary.characters``), from the characters
    of the windows themselves.

    ``interior_known``: ``out`` holds a bound of every window of the target's length
    already (``query_bounds`` derives one from the words), and the pass adds the text's
    shorter windows at its two ends only: a few tokens a row.
    """
    if interior_known and out is None:
        raise ValueError("interior_known needs the bounds in out")
    out = np.empty(len(rows), dtype=np.float64) if out is None else out
    (chars, offsets), known = tokens.vocabulary.characters()
    kernel().word_bounds(
        tokens.stream, tokens.ends, rows, tables.packed, tables.suffix, tables.prefix, tables.whole,
        tables.length, out, tables.m, tables.window, tables.extra, floor,
        _code_points(tables.letters), chars, offsets, known, interior_known,
    )  # fmt: skip
    return out


@dataclass(frozen=True)
class TokenStream:
    """The tokens of a snapshot's rows, one row after the other (see ``Corpus``)."""

    vocabulary: Vocabulary
    stream: U16  # the buckets of every row's tokens, rows in order
    ends: npt.NDArray[
        np.uint32
    ]  # row i's tokens: ``stream[ends[i - 1] : ends[i]]`` (row 0: from 0)


def available() -> bool:
    """Whether the compiled kernel is there (without it rows get no locality bound)."""
    return _kernel is not None


def usable(query: Query) -> bool:
    """Whether ``query_bounds`` can bound ``query`` (the kernel is there; every target,
    the query and its words, has letters and at most ``LONGEST_TARGET`` characters)."""
    targets = [query.text, *query.tokens]
    return _kernel is not None and all(
        len(t) <= LONGEST_TARGET and TOKEN.search(t) for t in targets
    )


def worth(tokens: TokenStream, query: Query, rows: int) -> bool:
    """Whether bounding ``rows`` rows is likely to cost less than the scoring it saves:
    the tables the query still needs (``TABLE_US`` a token) against ``SAVED_US`` a row."""
    missing = tokens.vocabulary.missing_tables([query.text, *query.tokens])
    return rows * SAVED_US >= missing * len(tokens.vocabulary.words) * TABLE_US


def query_bounds(
    tokens: TokenStream,
    query: Query,
    rows: I64,
    lengths: npt.NDArray[np.int32],
    bar: float,
    workers: int = 1,
    known: tuple[F64, F64] | None = None,
) -> tuple[F64, F64] | None:
    """Upper bounds of each row's ``PR`` and ``0.99 x TS`` (as ``bounds.bounds`` gives
    them) from the rows' tokens, or None when this bound is not available (no kernel, a
    target too long or without letters). ``bar`` is the score that matters: values below
    it may stay loose (see ``word_bounds``). ``known`` (bounds of PR and 0.99 x TS the
    caller has already) spares the work where they are under the bar: a row keeps 100
    there. Over ``PARALLEL_MIN_ROWS`` rows the kernel runs on ``workers`` threads."""
    if not usable(query):
        return None

    def bound(target: str, floor: float, subset: I64, interior: F64 | None = None) -> F64:
        """The target's bound of the rows ``rows[subset]`` (``interior``: of their windows
        of the target's length, known already, see ``word_bounds``; written over)."""
        tables = tokens.vocabulary.tables(target, workers)
        some = rows[subset]
        size = len(subset)
        many = workers > 1 and size >= PARALLEL_MIN_ROWS
        step = max(PARALLEL_MIN_ROWS // 4, -(-size // (4 * workers))) if many else max(size, 1)
        out = np.empty(size, dtype=np.float64) if interior is None else interior

        def run(part: slice) -> None:
            word_bounds(tables, tokens, some[part], floor, out[part], interior is not None)

        spread(run, slices(size, step), workers)
        out += EPSILON
        out[lengths[subset] <= len(target)] = np.inf  # the roles swap inside partial_ratio
        return np.minimum(out, 100.0)

    def reaching(bounds: F64 | None) -> I64:
        """The rows whose bound the caller knows (``bounds``) reaches the bar: all when
        it knows none."""
        if bounds is None:
            return np.arange(len(rows), dtype=np.int64)
        return np.flatnonzero(bounds >= bar).astype(np.int64, copy=False)

    partial_known, token_known = known if known is not None else (None, None)
    if not query.tokens:
        partial = np.full(len(rows), 100.0)
        some = reaching(partial_known)
        if some.size:
            partial[some] = bound(query.text, bar, some)
        return partial, np.zeros(len(rows), dtype=np.float64)
    # The words first, heaviest first, each on the rows whose TS can still reach the bar
    # with the words not bounded yet at 100 (a row left out keeps 100 for them: its
    # bound is then already under the bar). A word's values below the least it must
    # score for that may stay loose (its floor).
    need = bar * query.total_weight / TOKEN_FACTOR  # the weighted sum TS needs
    total = np.zeros(len(rows), dtype=np.float64)
    remaining = query.total_weight
    alive = reaching(token_known)
    interior = np.full(len(rows), np.inf)  # of PR's windows of the query's length
    for position in sorted(range(len(query.tokens)), key=lambda i: -query.weights[i]):
        weight = query.weights[position]
        remaining -= weight
        values = np.full(len(rows), 100.0)
        if alive.size:
            floor = max(0.0, (need - 100.0 * (query.total_weight - weight)) / weight)
            word = query.tokens[position]
            found = bound(word, floor, alive)
            values[alive] = found
            interior[alive] = np.minimum(interior[alive], interior_of(query.text, word, found))
        total += weight * values
        alive = alive[total[alive] + 100.0 * remaining >= need - 1e-6]
    token = total * (TOKEN_FACTOR / query.total_weight) + EPSILON
    # the whole query wherever what the caller knows of PR does not already keep it under
    # the bar: also where TS carries the row past this bar, for the bar rises while the
    # caller scores (a row TS no longer carries must not keep an unbounded PR). Where the
    # words keep its windows of the query's length under the bar, only the text's ends
    # are read.
    partial = np.full(len(rows), 100.0)
    some = reaching(partial_known)
    ends_only = interior[some] < bar
    if ends_only.any():
        edged = some[ends_only]
        partial[edged] = bound(query.text, bar, edged, interior[edged])
        some = some[~ends_only]
    if some.size:
        partial[some] = bound(query.text, bar, some)
    return partial, token


def interior_of(text: str, word: str, word_bound: F64) -> F64:
    """A bound of ``partial_ratio(text, row)`` over the row's windows of ``len(text)``
    characters (not the shorter ones at its two ends) from a bound of
    ``partial_ratio(word, row)``, ``word`` a substring of ``text``.

    A window scores ``100 L / n`` (``n = len(text)``, ``L`` the LCS). Of the ``L``
    matches, at most ``n - m`` are outside the word (``m = len(word)``); the word's own
    lie in a stretch of the window, and a window of ``m`` characters of the row keeps at
    least ``L - (n - m)`` of them (the stretch is at most ``n - (L - L_word)`` long). That
    window scores ``100 x / m`` at least with the word, so ``L <= n - m + x`` with the
    integer ``x <= m W / 100``. (Tested against RapidFuzz in ``test_locality``.)
    """
    n, m = len(text), len(word)
    matched = np.floor(m * word_bound / 100.0 + 1e-7)  # x (rounding errors: only up)
    return 100.0 * (n - m + matched) / n + EPSILON
