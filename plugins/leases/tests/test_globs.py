"""The glob overlap decision, checked by hand and against brute force."""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scs_leases.globs import matches, overlaps


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("src/app.py", "src/app.py", True),
        ("src/app.py", "src/main.py", False),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/a/b.py", False),  # * stays within a segment
        ("src/**", "src/a/b.py", True),
        ("src/**", "src", True),  # ** matches zero segments
        ("**/*.md", "docs/guide.md", True),
        ("*.md", "docs/guide.md", False),
        ("a*", "*b", True),  # "ab"
        ("a*", "b*", False),
        ("a?", "a", False),
        ("a/**/b", "c/**", False),
        ("a/**/z", "**/m/**", True),  # a/m/z
        ("**", "anything/at/all", True),
        ("x/*/y", "x/**/y", True),
        ("*/*", "**/b/c/d", False),  # every path of the right has at least 3 segments
    ],
)
def test_examples(left: str, right: str, expected: bool) -> None:
    assert overlaps(left, right) is expected
    assert overlaps(right, left) is expected


def test_matches_treats_wildcards_in_paths_literally() -> None:
    assert matches("src/**", "src/a/b.py")
    assert matches("docs/*.md", "docs/a*b.md")
    assert not matches("docs/a?.md", "docs/a/.md")
    assert not matches("*.md", "a/b.md")


# -- brute force -------------------------------------------------------------------
# Patterns of at most 3 segments, at most 2 tokens per segment over {a, b, ?, *}; if two
# such patterns share a path, they share one of at most 4 segments of at most 2
# characters over {a, b}, so this universe decides overlap exactly for them.
ALPHABET = "ab"
SEGMENTS = ["".join(p) for n in (1, 2) for p in itertools.product(ALPHABET, repeat=n)]
UNIVERSE = [
    "/".join(parts) for depth in range(1, 5) for parts in itertools.product(SEGMENTS, repeat=depth)
]

segment = st.one_of(
    st.just("**"),
    st.text(alphabet="ab?*", min_size=1, max_size=2),
)
pattern = st.lists(segment, min_size=1, max_size=3).map("/".join)


@lru_cache(maxsize=4096)
def regex_of(glob: str) -> re.Pattern[str]:
    """An independent translation: a regular expression over whole paths."""
    parts: list[str] = []
    for seg in glob.split("/"):
        if seg == "**":
            parts.append("(?:[^/]+/)*")
        else:
            body = "".join(
                "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in seg
            )
            parts.append(body + "/")
    return re.compile("".join(parts))


def brute_matches(glob: str, path: str) -> bool:
    return regex_of(glob).fullmatch(path + "/") is not None


@settings(max_examples=200, deadline=None)
@given(pattern, pattern)
def test_overlap_equals_brute_force(left: str, right: str) -> None:
    shared = any(brute_matches(left, p) and brute_matches(right, p) for p in UNIVERSE)
    assert overlaps(left, right) is shared
    assert overlaps(right, left) is shared


@settings(max_examples=100, deadline=None)
@given(pattern, st.sampled_from(UNIVERSE))
def test_matches_equals_brute_force(glob: str, path: str) -> None:
    assert matches(glob, path) is brute_matches(glob, path)


def _lease(n: int, patterns: list[str]) -> Any:
    from scs_leases.store import Lease

    return Lease(
        id=f"l{n}",
        holder=f"other-{n}",
        holder_type="claude",
        session_id=None,
        mode="exclusive",
        capacity=None,
        reason=None,
        resources=tuple(patterns),
        fencing_token=n + 1,
        acquired_at="2030-01-01T00:00:00.000000Z",
        renewed_at="2030-01-01T00:00:00.000000Z",
        expires_at="2030-01-01T01:00:00.000000Z",
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(pattern, min_size=1, max_size=3), min_size=1, max_size=6),
    st.lists(pattern, min_size=1, max_size=3),
)
def test_conflicts_are_exactly_the_overlapping_leases(
    held: list[list[str]], requested: list[str]
) -> None:
    """The first-segment pruning of find_conflicts loses no conflict."""
    from scs_leases.conflicts import Request, find_conflicts

    live = [_lease(n, patterns) for n, patterns in enumerate(held)]
    found = find_conflicts(Request("me", "exclusive", None, tuple(requested)), live)
    expected = {
        lease.id
        for lease in live
        if any(overlaps(r, p) for r in requested for p in lease.resources)
    }
    assert {conflict.lease.id for conflict in found} == expected
