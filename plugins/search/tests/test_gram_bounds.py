"""Gram bounds and the tiers' cells over every row: the compiled kernel's equal numpy's,
to the bit (the ranking's results rest on both; ``test_ranking`` checks them end to end)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import pytest
from scs_search import bounds, tiers
from scs_search.bounds import EveryRow
from scs_search.compiled import kernel
from scs_search.corpus import Corpus
from scs_search.scoring import Query, make_query
from scs_search.text import prepare_query

from .conftest import needs_kernel
from .corpus import rows

if TYPE_CHECKING:
    from scs_search.index import Snapshot

QUERIES = [
    "connection pool",
    "auth middlware",
    "pooling connecton retry",
    "get_user_by_id failed",
    "x",  # one character: no bigram, no bound
    "!! ??",  # no word: no token bound
    "a b c d e f g h",
    "the deploy of the cache layer on friday was rolled back after timeouts",
]


@pytest.fixture(autouse=True)
def compiled() -> None:
    needs_kernel()


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    corpus = Corpus()
    messages = [
        {**row, "id": 5 + 2 * number, "session_id": "s"}
        for number, row in enumerate(rows(3000, seed=9))
    ]
    corpus.add_session_rows("s", messages)
    return corpus.snapshot()


def in_numpy(snapshot: Snapshot, query: Query, monkeypatch: pytest.MonkeyPatch) -> EveryRow:
    with monkeypatch.context() as patched:
        patched.setattr(bounds, "kernel", None)
        every_row = EveryRow(snapshot, query)
    assert not every_row.compiled
    return every_row


@pytest.mark.parametrize("text", QUERIES)
def test_compiled_bounds_equal_numpys(
    snapshot: Snapshot, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = make_query(prepare_query(text))
    compiled = EveryRow(snapshot, query)
    assert compiled.compiled
    numpy = in_numpy(snapshot, query, monkeypatch)
    rnd = random.Random(text)
    every = np.arange(snapshot.n, dtype=np.int64)
    some = np.array(sorted(rnd.sample(range(snapshot.n), 700)), dtype=np.int64)
    for picked in (every, some, every[:0]):
        for with_metadata in (True, False):
            for bigrams_only in (False, True):
                got = bounds.bounds(snapshot, query, picked, with_metadata, bigrams_only, compiled)
                want = bounds.bounds(snapshot, query, picked, with_metadata, bigrams_only, numpy)
                for name, a, b in zip(("partial", "token"), got, want, strict=True):
                    assert a.dtype == np.float64
                    assert np.array_equal(a, b), (text, name, with_metadata, bigrams_only)
    partial, token = bounds.bounds(snapshot, query, every, True, False, compiled)
    assert (partial <= 100.0).all()
    if not query.tokens:
        assert not token.any()
    if len(query.text) == 1:
        assert (partial == 100.0).all()  # no bigram: no bound
    else:
        assert (partial < 100.0).any()  # the bound does prune


# the queries with a cell table (the others: a target without bigrams, too many cells)
@pytest.mark.parametrize("text", QUERIES[:4] + ["!! ??", "sqlite"])
def test_compiled_cells_equal_numpys(
    snapshot: Snapshot, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = make_query(prepare_query(text))
    table = tiers.cell_table(query)
    assert table is not None
    rnd = np.random.default_rng(len(text))
    wanted = rnd.random(snapshot.n) < 0.7
    every_row = EveryRow(snapshot, query)
    for with_metadata in (True, False):
        cells, counts = tiers._cells(snapshot, query, wanted, with_metadata, every_row, len(table))
        with monkeypatch.context() as patched:
            patched.setattr(tiers, "kernel", None)
            want = tiers._cells(snapshot, query, wanted, with_metadata, every_row, len(table))
        assert np.array_equal(cells, want[0])
        assert np.array_equal(counts, want[1])
        assert counts.sum() == snapshot.n
        assert counts[-1] == np.count_nonzero(~wanted)  # the last cell: rows not wanted


def test_a_query_of_more_words_than_the_kernel_takes_is_bounded_in_numpy(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kernel is not None
    words = tuple(f"w{i}x" for i in range(kernel.MAX_TARGETS))  # (make_query keeps 12)
    query = Query(" ".join(words), words, tuple(3.0 for _ in words))
    every_row = EveryRow(snapshot, query)
    assert len(every_row.targets) == kernel.MAX_TARGETS + 1
    assert not every_row.compiled
    every = np.arange(snapshot.n, dtype=np.int64)
    got = bounds.bounds(snapshot, query, every, True, False, every_row)
    want = bounds.bounds(
        snapshot, query, every, True, False, in_numpy(snapshot, query, monkeypatch)
    )
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_the_kernel_refuses_rows_or_tables_that_do_not_fit_and_writes_nothing(
    snapshot: Snapshot,
) -> None:
    assert kernel is not None
    query = make_query(prepare_query("connection pool"))
    every_row = EveryRow(snapshot, query)
    targets = every_row.grams()
    lengths = snapshot.full_len[: snapshot.n]
    partial, token = np.full(3, 7.0), np.full(3, 7.0)

    def run(rows: list[int], shaped: tuple[tuple[object, ...], ...]) -> None:
        kernel.gram_bounds(
            np.asarray(rows, np.int64), lengths, shaped, partial, token, 0.5, 200.0, 1e-9
        )

    with pytest.raises(ValueError, match="a row outside the counts"):
        run([0, snapshot.n, 1], targets)
    with pytest.raises(ValueError, match="a row outside the counts"):
        run([0, -1, 1], targets)
    wrong_table = ((*targets[0][:2], np.zeros(5), *targets[0][3:]), *targets[1:])
    with pytest.raises(ValueError, match="do not fit"):
        run([0, 1, 2], wrong_table)
    short_counts = ((targets[0][0][:-1], *targets[0][1:]), *targets[1:])
    with pytest.raises(ValueError, match="do not fit"):
        run([0, 1, 2], short_counts)
    with pytest.raises(ValueError, match="1 to 32 targets"):
        run([0, 1, 2], targets[:1] * (kernel.MAX_TARGETS + 1))
    with pytest.raises(ValueError, match="1 to 32 targets"):
        run([0, 1, 2], ())
    assert (partial == 7.0).all() and (token == 7.0).all()

    cells = np.full(snapshot.n, 7, dtype=np.int32)
    wanted = np.ones(snapshot.n, dtype=np.uint8)
    bigrams = every_row.grams(bigrams_only=True)
    with pytest.raises(ValueError, match="counts"):
        kernel.cell_counts(bigrams, lengths, 15, wanted, cells, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="wanted"):
        table = tiers.cell_table(query)
        assert table is not None
        kernel.cell_counts(bigrams, lengths, 15, wanted[:-1], cells, np.zeros(len(table), np.int64))
    assert (cells == 7).all()
