"""Resource patterns: parsing, matching and the exact overlap decision.

A pattern is a relative path of ``/``-separated, non-empty segments:

- ``**`` as a whole segment matches any number of segments, zero included
  (``src/**`` matches ``src``, ``src/a`` and ``src/a/b``);
- ``*`` matches any run of characters within one segment (never ``/``); a ``**`` inside
  a segment (``a**b``) means the same as ``*``;
- ``?`` matches exactly one character within a segment;
- every other character matches itself (``[`` is not special).

A path is a pattern without wildcards. **Two patterns conflict (overlap) when some
path matches both.** ``overlaps`` decides that exactly: a product automaton over
segments (``**`` is a star over segments), whose segment step asks whether two segment
patterns share a non-empty string (a product automaton over characters). Both are
breadth-first searches over at most ``(n + 1) * (m + 1) * 2`` states, memoised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

GLOBSTAR = "**"
STAR = "*"
ANY_CHAR = "?"
SEPARATOR = "/"


@dataclass(frozen=True)
class PatternShape:
    """How complex a pattern is (checked against the limits before anything else)."""

    segments: int
    globstars: int
    wildcards: int


def split(pattern: str) -> tuple[str, ...]:
    """The segments of a pattern, each reduced to its canonical form (runs of ``*``
    inside a segment collapsed to one)."""
    return tuple(_canonical_segment(segment) for segment in pattern.split(SEPARATOR))


def _canonical_segment(segment: str) -> str:
    if segment == GLOBSTAR:
        return segment
    while "**" in segment:
        segment = segment.replace("**", STAR)
    return segment


def shape(pattern: str) -> PatternShape:
    segments = split(pattern)
    globstars = sum(1 for s in segments if s == GLOBSTAR)
    wildcards = sum(s.count(STAR) + s.count(ANY_CHAR) for s in segments if s != GLOBSTAR)
    return PatternShape(len(segments), globstars, wildcards)


def _after_char(token: str, index: int) -> int:
    """The state after one character consumed by ``token`` at ``index`` (a star stays)."""
    return index if token == STAR else index + 1


def literal_head(pattern: str) -> str | None:
    """The first segment when it has no wildcard (every matching path starts with it)."""
    head = pattern.split(SEPARATOR, 1)[0]
    return None if STAR in head or ANY_CHAR in head else head


@lru_cache(maxsize=65536)
def segments_overlap(left: str, right: str) -> bool:
    """Whether some non-empty segment (no ``/``) matches both segment patterns."""
    if not any(c in (STAR, ANY_CHAR) for c in left + right):
        return left == right
    n, m = len(left), len(right)
    start = (0, 0, False)
    seen = {start}
    frontier = [start]
    while frontier:
        i, j, consumed = frontier.pop()
        if i == n and j == m:
            if consumed:
                return True
            continue
        successors: list[tuple[int, int, bool]] = []
        # epsilon: a star may match nothing
        if i < n and left[i] == STAR:
            successors.append((i + 1, j, consumed))
        if j < m and right[j] == STAR:
            successors.append((i, j + 1, consumed))
        # one character both sides accept
        if i < n and j < m:
            a, b = left[i], right[j]
            wild_a, wild_b = a in (STAR, ANY_CHAR), b in (STAR, ANY_CHAR)
            if wild_a or wild_b or a == b:
                successors.append((_after_char(a, i), _after_char(b, j), True))
        for state in successors:
            if state not in seen:
                seen.add(state)
                frontier.append(state)
    return False


@lru_cache(maxsize=65536)
def _split_cached(pattern: str) -> tuple[str, ...]:
    return split(pattern)


@lru_cache(maxsize=65536)
def overlaps(left: str, right: str) -> bool:
    """Whether some path (at least one segment) matches both patterns."""
    if left == right:
        return True
    a, b = _split_cached(left), _split_cached(right)
    n, m = len(a), len(b)
    start = (0, 0, False)
    seen = {start}
    frontier = [start]
    while frontier:
        i, j, consumed = frontier.pop()
        if i == n and j == m:
            if consumed:
                return True
            continue
        successors: list[tuple[int, int, bool]] = []
        star_a = i < n and a[i] == GLOBSTAR
        star_b = j < m and b[j] == GLOBSTAR
        if star_a:
            successors.append((i + 1, j, consumed))
        if star_b:
            successors.append((i, j + 1, consumed))
        if i < n and j < m:
            # one path segment both sides accept; a globstar accepts any segment
            if star_a and star_b:
                successors.append((i, j, True))
            elif star_a:
                successors.append((i, j + 1, True))
            elif star_b:
                successors.append((i + 1, j, True))
            elif segments_overlap(a[i], b[j]):
                successors.append((i + 1, j + 1, True))
        for state in successors:
            if state not in seen:
                seen.add(state)
                frontier.append(state)
    return False


def matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches ``pattern`` (``*`` and ``?`` in the path are plain
    characters). Dynamic programming over (pattern, path) positions: polynomial time."""
    segments = _split_cached(pattern)
    parts = path.split(SEPARATOR)
    # reachable[j]: the first i pattern segments can match the first j path segments
    reachable = [True] + [False] * len(parts)
    for segment in segments:
        if segment == GLOBSTAR:  # any number of segments: carry every reachable j forward
            for j in range(1, len(parts) + 1):
                reachable[j] = reachable[j] or reachable[j - 1]
            continue
        following = [False] * (len(parts) + 1)
        for j, part in enumerate(parts):
            if reachable[j] and _match_chars(segment, part):
                following[j + 1] = True
        reachable = following
    return reachable[len(parts)]


def _match_chars(pattern: str, text: str) -> bool:
    """One segment: ``*`` any run, ``?`` one character, others themselves (O(n * m))."""
    reachable = [True] + [False] * len(text)
    for token in pattern:
        if token == STAR:
            for j in range(1, len(text) + 1):
                reachable[j] = reachable[j] or reachable[j - 1]
            continue
        following = [False] * (len(text) + 1)
        for j, char in enumerate(text):
            if reachable[j] and token in (ANY_CHAR, char):
                following[j + 1] = True
        reachable = following
    return reachable[len(text)]
