"""Gram line counts: the compiled kernel's equal numpy's, row for row."""

from __future__ import annotations

import numpy as np
import pytest
from scs_search import grams
from scs_search.compiled import kernel

from .conftest import needs_kernel


@pytest.fixture(autouse=True)
def compiled() -> None:
    needs_kernel()


@pytest.mark.parametrize("n", [1, 7, 8, 63, 64, 65, 4_095, 4_096, 4_097, 70_001])
def test_compiled_line_counts_equal_numpys(n: int) -> None:
    rng = np.random.default_rng(n)
    width = -(-n // 8) + int(rng.integers(0, 3))  # rows beyond n are not counted
    lines = rng.integers(0, 256, size=(40, width), dtype=np.uint8)
    lines[3] = 255  # a line set for every row
    hashes = [0, 3, 5, 17, 39]
    for repeats in ([1, 1, 1, 1, 1], [2, 1, 7, 1, 3], [48, 1, 1, 1, 1], [200, 50, 1, 2, 2]):
        compiled = grams.line_counts(lines, hashes, repeats, n)
        numpy = grams.counted_in_numpy(lines, hashes, repeats, n)
        assert compiled.dtype == np.uint8
        assert compiled.shape == (n,)
        assert np.array_equal(compiled, numpy), repeats
        assert compiled.max() <= sum(repeats)
        assert compiled.min() >= repeats[1]  # line 3 is set for every row


def test_no_lines_count_zero() -> None:
    lines = np.full((4, 10), 255, dtype=np.uint8)
    assert not grams.line_counts(lines, [], [], 77).any()


def test_a_view_that_is_not_contiguous_is_counted_in_numpy() -> None:
    rng = np.random.default_rng(5)
    lines = rng.integers(0, 256, size=(8, 64), dtype=np.uint8)
    strided = lines[:, ::2]
    assert not strided.flags.c_contiguous
    expected = grams.counted_in_numpy(np.ascontiguousarray(strided), [1, 6], [1, 2], 250)
    assert np.array_equal(grams.line_counts(strided, [1, 6], [1, 2], 250), expected)


@pytest.mark.parametrize(
    ("hashes", "repeats", "n", "message"),
    [
        ([0, 4], [1, 1], 80, "a line outside the signatures"),
        ([0, -1], [1, 1], 80, "a line outside the signatures"),
        ([0, 1], [200, 56], 80, "more than 255 positions"),
        ([0], [1], 81, "bad line sizes"),
        ([0, 1], [1], 80, "repeats"),
    ],
)
def test_the_kernel_refuses_bad_input_and_writes_nothing(
    hashes: list[int], repeats: list[int], n: int, message: str
) -> None:
    assert kernel is not None
    lines = np.full((4, 10), 255, dtype=np.uint8)
    out = np.full(n, 9, dtype=np.uint8)
    with pytest.raises(ValueError, match=message):
        kernel.line_counts(
            lines, 10, np.asarray(hashes, np.int64), np.asarray(repeats, np.uint8), out
        )
    assert (out == 9).all()
