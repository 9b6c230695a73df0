"""Trigram signatures and the score bound they give (exact pruning, never a guess).

Each indexed text gets a ``BITS``-bit signature: one bit per hashed character
trigram it contains. For a query ``q`` (length ``m``) and a text longer than
``q``, RapidFuzz ``partial_ratio`` is the best ``ratio`` between ``q`` and a
window ``w`` of the text with ``len(w) <= m``: ``200 * L / (m + len(w))`` where
``L`` is their longest common subsequence. Write ``d1 = m - L`` (query
characters left out) and ``d2 = len(w) - L`` (window characters left out;
``d2 <= d1``). A left-out query character spoils at most 3 query trigram
positions and a run of left-out window characters at most 2, so at least
``T - 3*d1 - 2*d2`` of the ``T`` query trigram positions occur in the text. A
text in which only ``P`` positions have their bit set therefore scores at most
``bound(P)``, the best ratio over every ``(d1, d2)`` with
``3*d1 + 2*d2 >= T - P``. Hash collisions only set more bits, which only
raises the bound, so pruning by it never drops a result.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BITS = 1024
ROW_BYTES_ALIGN = 8
MAX_QUERY_POSITIONS = 48
_M1 = np.uint32(0x9E3779B1)
_M2 = np.uint32(0x85EBCA77)
_M3 = np.uint32(0xC2B2AE3D)
_SHIFT = np.uint32(11)
_MASK = np.uint32(BITS - 1)
_CHUNK = 8192

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def codes(text: str) -> npt.NDArray[np.uint32]:
    """The code points of ``text`` as an array."""
    points: npt.NDArray[np.uint32] = np.frombuffer(
        text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32
    )
    return points


def _hash(points: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    with np.errstate(over="ignore"):
        mixed = (points[:-2] * _M1) ^ (points[1:-1] * _M2) ^ (points[2:] * _M3)
    hashed: npt.NDArray[np.uint32] = (mixed >> _SHIFT) & _MASK
    return hashed


def query_positions(query: str) -> npt.NDArray[np.uint32]:
    """The hashed trigram of each of the first query positions (repeats kept)."""
    if len(query) < 3:
        return np.zeros(0, dtype=np.uint32)
    return _hash(codes(query[: MAX_QUERY_POSITIONS + 2]))


def set_signatures(signatures: U8, texts: list[str], first_row: int) -> None:
    """Set the trigram bits of ``texts`` (rows ``first_row...``) in ``signatures``.

    ``signatures`` is ``(BITS, capacity // 8)``: bit ``row`` of line ``h`` says
    whether the text of that row contains a trigram hashing to ``h``.
    """
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
    if len(points) < 3:
        return
    inside = (rows[:-2] == rows[2:]) & (rows[:-2] >= 0)
    hashes = _hash(points)[inside]
    local = rows[:-2][inside]
    aligned = first_row - first_row % 8
    shift = first_row - aligned
    span = -(-(shift + len(texts)) // 8) * 8
    bits = np.zeros((BITS, span), dtype=bool)
    bits[hashes, local + shift] = True
    packed = np.packbits(bits, axis=1, bitorder="little")
    signatures[:, aligned // 8 : aligned // 8 + packed.shape[1]] |= packed


def present_counts(
    signatures: U8, positions: npt.NDArray[np.uint32], rows: I64
) -> npt.NDArray[np.int32]:
    """For each row, how many query positions have their trigram bit set."""
    counts = np.zeros(len(rows), dtype=np.int32)
    hashes, repeats = np.unique(positions, return_counts=True)
    for line, repeat in zip(hashes.tolist(), repeats.tolist(), strict=True):
        bits = np.unpackbits(signatures[line], bitorder="little")[rows]
        if repeat == 1:
            counts += bits
        else:
            counts += bits.astype(np.int32) * repeat
    return counts


def bound_table(m: int, positions: int) -> npt.NDArray[np.float64]:
    """``table[P]``: the highest ``partial_ratio`` a text longer than the query can
    reach when ``P`` of the query's ``positions`` trigram positions occur in it."""
    table = np.zeros(positions + 1, dtype=np.float64)
    for present in range(positions + 1):
        missing = positions - present
        best = 0.0
        for d1 in range(0, min(m, missing // 3 + 1) + 1):
            d2 = max(0, -(-(missing - 3 * d1) // 2))
            if d2 > d1:
                continue
            best = max(best, 200.0 * (m - d1) / (2 * m - d1 + d2))
        table[present] = best
    return table
