"""Character bigram and trigram signatures, and the score bound they give.

The bound prunes exactly: it never drops a text that could reach the bar.

Each indexed text gets two signatures: one bit per hashed character bigram it
contains (``BITS2`` bits), one per hashed trigram (``BITS3`` bits). For a query ``q`` (length
``m``) and a text longer than ``q``, RapidFuzz ``partial_ratio`` is the best
``ratio`` between ``q`` and a window ``w`` of the text with ``len(w) <= m``:
``200 * L / (m + len(w))``, ``L`` being their longest common subsequence.
Write ``d1 = m - L`` (query characters left out) and ``d2 = len(w) - L``
(window characters left out; ``d2 <= d1``). A bigram position ``i`` of the
query survives into the window when ``q[i]`` and ``q[i+1]`` are both matched to
neighbouring window characters: a left-out query character spoils at most 2
bigram positions (3 trigram positions) and a run of left-out window characters
at most 1 (2). So if only ``P2`` of the ``T2`` query bigram positions and
``P3`` of the ``T3`` trigram positions occur anywhere in the text, every
window has ``2*d1 + d2 >= T2 - P2`` and ``3*d1 + 2*d2 >= T3 - P3``, and the
text scores at most the best ratio over the ``(d1, d2)`` allowed by both.
Hash collisions only set more bits, which only raises the bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scs_search.compiled import kernel

if TYPE_CHECKING:
    from collections.abc import Sequence

# 512 + 512 bits: 128 bytes a message (issue #21's <= 400 bytes a message). Fewer bits
# set more of them by collision, which only loosens the bound (never a wrong result):
# see plugins/search/README.md, fifth round, for the rows scored with 1,024 + 512.
BITS2 = 512
BITS3 = 512
LINES = BITS2 + BITS3
MAX_QUERY_POSITIONS = 48
_M1 = np.uint32(0x9E3779B1)
_M2 = np.uint32(0x85EBCA77)
_M3 = np.uint32(0xC2B2AE3D)
_SHIFT = np.uint32(11)
_MASK2 = np.uint32(BITS2 - 1)
_MASK3 = np.uint32(BITS3 - 1)
_CHUNK = 8192
DENSE_SHARE = 4  # rows above 1/4 of the index: count whole lines (``present_counts``)

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]


def codes(text: str) -> U32:
    """The code points of ``text`` as an array."""
    points: U32 = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return points


def _bigrams(points: U32) -> U32:
    with np.errstate(over="ignore"):
        mixed = (points[:-1] * _M1) ^ (points[1:] * _M3)
    hashed: U32 = (mixed >> _SHIFT) & _MASK2
    return hashed


def _trigrams(points: U32) -> U32:
    with np.errstate(over="ignore"):
        mixed = (points[:-2] * _M1) ^ (points[1:-1] * _M2) ^ (points[2:] * _M3)
    hashed: U32 = (mixed >> _SHIFT) & _MASK3
    return hashed


def query_positions(query: str) -> tuple[U32, U32]:
    """The hashed bigram and trigram of each of the first query positions (repeats kept)."""
    points = codes(query[: MAX_QUERY_POSITIONS + 2])
    two = _bigrams(points)[:MAX_QUERY_POSITIONS] if len(points) >= 2 else points[:0]
    three = _trigrams(points)[:MAX_QUERY_POSITIONS] if len(points) >= 3 else points[:0]
    return two, three


@dataclass(frozen=True)
class QueryGrams:
    """A query's gram positions as ``present_counts`` reads them: each distinct hashed
    bigram (trigram) with how many positions have it, and the number of positions."""

    hashes2: tuple[int, ...]
    repeats2: tuple[int, ...]
    positions2: int
    hashes3: tuple[int, ...]
    repeats3: tuple[int, ...]
    positions3: int

    def of_size(self, size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The distinct hashes and their repeats of the bigrams (``size`` 2) or trigrams."""
        return (self.hashes2, self.repeats2) if size == 2 else (self.hashes3, self.repeats3)


@lru_cache(maxsize=1024)
def query_grams(query: str) -> QueryGrams:
    """``query_positions`` grouped by hash, computed once per query or word (a search
    over many sessions asks for the same words in every session)."""
    two, three = query_positions(query)
    h2, r2 = np.unique(two, return_counts=True)
    h3, r3 = np.unique(three, return_counts=True)
    return QueryGrams(
        tuple(h2.tolist()),
        tuple(r2.tolist()),
        len(two),
        tuple(h3.tolist()),
        tuple(r3.tolist()),
        len(three),
    )


def new_signatures(capacity: int) -> U8:
    """Room for ``capacity`` rows: ``(LINES, capacity // 8)``, the ``BITS2`` bigram lines
    then the ``BITS3`` trigram lines (``bigram_lines`` / ``trigram_lines``).

    Bit ``row`` of line ``h`` says whether that row's text has a gram hashing to ``h``.
    """
    return np.zeros((LINES, capacity // 8), dtype=np.uint8)


def bigram_lines(signatures: U8) -> U8:
    """The bigram lines of ``signatures`` (a view)."""
    return signatures[:BITS2]


def trigram_lines(signatures: U8) -> U8:
    """The trigram lines of ``signatures`` (a view)."""
    return signatures[BITS2:]


def lines_of(signatures: U8, size: int) -> U8:
    """The bigram (``size`` 2) or trigram lines of ``signatures`` (a view)."""
    return bigram_lines(signatures) if size == 2 else trigram_lines(signatures)


def set_signatures(signatures: U8, texts: list[str], first_row: int) -> None:
    """Set the bits of ``texts`` (rows ``first_row...``) in ``signatures``."""
    for start in range(0, len(texts), _CHUNK):
        _set_chunk(signatures, texts[start : start + _CHUNK], first_row + start)


def _set_chunk(signatures: U8, texts: list[str], first_row: int) -> None:
    if not texts:
        return
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    points = codes("\x00".join(texts))
    # which text each code point belongs to; -1 marks the separators
    rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + 1)[: len(points)]
    ends = np.cumsum(lengths + 1) - 1
    rows[ends[ends < len(points)]] = -1
    aligned = first_row - first_row % 8
    shift = first_row - aligned
    span = -(-(shift + len(texts)) // 8) * 8
    kinds = ((2, _bigrams, bigram_lines(signatures)), (3, _trigrams, trigram_lines(signatures)))
    for size, hasher, lines in kinds:
        if len(points) < size:
            continue
        start, end = rows[: len(points) - size + 1], rows[size - 1 :]
        inside = (start == end) & (start >= 0)
        bits = np.zeros((len(lines), span), dtype=bool)
        bits[hasher(points)[inside], start[inside] + shift] = True
        packed = np.packbits(bits, axis=1, bitorder="little")
        lines[:, aligned // 8 : aligned // 8 + packed.shape[1]] |= packed


def present_counts(
    lines: U8,
    hashes: Sequence[int],
    repeats: Sequence[int],
    rows: I64,
    seen: dict[int, U8] | None = None,
) -> npt.NDArray[np.int32]:
    """For each row, how many query positions have their gram bit set in ``lines``
    (``hashes``: the distinct hashes of the positions, ``repeats``: how many each).

    ``seen`` caches the bits of each line for these rows (the words of a query share
    most grams with the whole query). When the rows are most of the index (a search of
    every session) the lines are counted whole and the rows picked once at the end:
    picking them out of every line would cost more than the counting.
    """
    if len(rows) * DENSE_SHARE > lines.shape[1] * 8:
        every = line_counts(lines, hashes, repeats, lines.shape[1] * 8, seen)
        picked: npt.NDArray[np.int32] = every[rows].astype(np.int32)
        return picked
    counts = np.zeros(len(rows), dtype=np.int32)
    for line, repeat in zip(hashes, repeats, strict=True):
        bits = _line_bits(lines, line, rows, seen)
        if repeat == 1:
            counts += bits
        else:
            counts += bits.astype(np.int32) * repeat
    return counts


def line_counts(
    lines: U8,
    hashes: Sequence[int],
    repeats: Sequence[int],
    n: int,
    seen: dict[int, U8] | None = None,
) -> U8:
    """``present_counts`` for each of the first ``n`` rows (a byte each: at most
    ``MAX_QUERY_POSITIONS``). The compiled kernel reads the lines packed, 64 rows a
    word, and needs no cache; without it (``counted_in_numpy``) ``seen`` caches whole
    lines unpacked."""
    if kernel is None or not lines.flags.c_contiguous:
        return counted_in_numpy(lines, hashes, repeats, n, seen)
    counts = np.empty(n, dtype=np.uint8)
    which = np.asarray(hashes, dtype=np.int64)
    kernel.line_counts(lines, lines.shape[1], which, np.asarray(repeats, dtype=np.uint8), counts)
    return counts


def counted_in_numpy(
    lines: U8,
    hashes: Sequence[int],
    repeats: Sequence[int],
    n: int,
    seen: dict[int, U8] | None = None,
) -> U8:
    """``line_counts`` without the kernel: each line unpacked (1 byte a row), then added."""
    counts = np.zeros(n, dtype=np.uint8)
    for line, repeat in zip(hashes, repeats, strict=True):
        bits = _line_bits(lines, line, None, seen)[:n]
        counts += bits if repeat == 1 else bits * np.uint8(repeat)
    return counts


def _line_bits(lines: U8, line: int, rows: I64 | None, seen: dict[int, U8] | None) -> U8:
    """The bits of one line (for ``rows``, or every row), through the ``seen`` cache."""
    bits = None if seen is None else seen.get(line)
    if bits is None:
        bits = np.unpackbits(lines[line], bitorder="little")
        if rows is not None:
            bits = bits[rows]
        if seen is not None:
            seen[line] = bits
    return bits


@lru_cache(maxsize=256)
def bound_table(m: int, positions2: int, positions3: int) -> npt.NDArray[np.float64]:
    """``table[D2, D3]``: the highest ``partial_ratio`` a text longer than the query can
    reach when ``D2`` bigram and ``D3`` trigram positions of the query are absent from it."""
    top = max(-(-positions2 // 2), -(-positions3 // 3)) + 1
    d1 = np.arange(min(m, top) + 1)[:, None]
    d2 = np.arange(min(m, top) + 1)[None, :]
    d1, d2 = np.broadcast_arrays(d1, d2)
    possible = d2 <= d1
    d1, d2 = d1[possible], d2[possible]
    scores = 200.0 * (m - d1) / (2 * m - d1 + d2)
    need2 = np.minimum(2 * d1 + d2, positions2)
    need3 = np.minimum(3 * d1 + 2 * d2, positions3)
    table = np.zeros((positions2 + 1, positions3 + 1), dtype=np.float64)
    np.maximum.at(table, (need2, need3), scores)
    # a pair allowed for (need2, need3) is allowed for every smaller D2 and D3
    table = np.maximum.accumulate(table[::-1, :], axis=0)[::-1, :]
    table = np.maximum.accumulate(table[:, ::-1], axis=1)[:, ::-1]
    table = np.ascontiguousarray(table)  # (read flat, by numpy and the kernel)
    table.setflags(write=False)
    return table
