"""scs_server.budget: the cheap bound is never below the real size; pages fit their budget."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from scs_server.budget import encoded_size, fitting, size_bound

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@given(JSON)
def test_the_bound_is_never_below_the_encoded_size(value: Any) -> None:
    assert size_bound(value) >= encoded_size(value)


@given(st.lists(JSON, max_size=20), st.integers(2, 2000))
def test_fitting_keeps_the_longest_prefix_within_the_budget(items: list[Any], budget: int) -> None:
    kept = fitting(items, budget)
    if not items:
        assert kept == 0
        return
    assert kept >= 1
    assert kept == 1 or encoded_size(items[:kept]) <= budget
    if kept < len(items):  # one more would not have fitted
        assert encoded_size(items[: kept + 1]) > budget
