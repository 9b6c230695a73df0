"""The ranking core against brute force on random queries, without the MCP layer."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from scs_search import locality, ranking, scoring, tiers
from scs_search.corpus import Corpus
from scs_search.index import SessionIndex
from scs_search.ranking import rank
from scs_search.text import prepare_query

from .conftest import needs_kernel
from .corpus import rows


def typo(rnd: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rnd.randint(0, 2)):
        if not chars:
            break
        spot = rnd.randrange(len(chars))
        action = rnd.random()
        if action < 0.4:
            del chars[spot]
        elif action < 0.7:
            chars.insert(spot, rnd.choice("abcdefghij "))
        else:
            chars[spot], chars[-1] = chars[-1], chars[spot]
    return "".join(chars) or "x"


def indexed(messages: list[dict[str, Any]], corpus: bool) -> SessionIndex:
    """A session index of ``messages``, or a corpus (rows with their tokens: the
    locality bound), the first half read, the rest by events out of id order."""
    half = len(messages) // 2
    if corpus:
        every = Corpus()
        every.add_session_rows("s", messages[:half])
        for message in reversed(messages[half:]):
            every.add_session_event("s", message)
        return every
    index = SessionIndex("s")
    index.add_synced(messages[:half])
    index.synced_to(messages[half - 1]["id"])
    for message in reversed(messages[half:]):  # events may arrive in any order
        index.add_event(message)
    return index


@pytest.mark.parametrize(
    ("workers", "tiering"),
    [(1, "one"), (3, "one"), (1, "cells"), (1, "rows"), (1, "locality"), (3, "locality")],
)
def test_rank_equals_brute_force_and_prunes(
    workers: int, tiering: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranking, "PARALLEL_MIN_TEXTS", 100)
    # one: a session's single tier; cells / rows: a corpus's tiers (small, so that a
    # search goes through several) by a table of cells, or row by row (too many cells);
    # locality: a corpus, whose tiers also get the locality bound (from a few rows on)
    monkeypatch.setattr(tiers, "FIRST_TIER", 64)
    monkeypatch.setattr(tiers, "DENSE_MIN_ROWS", 10**9 if tiering == "one" else 0)
    monkeypatch.setattr(ranking, "LOCALITY_MIN_ROWS", 32)
    monkeypatch.setattr(locality, "TABLE_US", 0.0)  # worth it whatever the tables cost
    monkeypatch.setattr(locality, "PARALLEL_MIN_ROWS", 100)
    if tiering == "rows":
        monkeypatch.setattr(tiers, "MAX_CELLS", 0)
    if tiering == "locality":
        needs_kernel()
    rnd = random.Random(11)
    messages = [
        {**row, "id": 10 + 3 * number, "session_id": "s"}
        for number, row in enumerate(rows(4000, seed=5))
    ]
    snapshot = indexed(messages, corpus=tiering == "locality").snapshot()
    assert (snapshot.tokens is not None) == (tiering == "locality")
    texts = snapshot.texts
    pruned = tightened = 0
    for _ in range(150):
        source = rnd.choice(texts)
        start = rnd.randrange(len(source))
        query = prepare_query(typo(rnd, source[start : start + rnd.randint(1, 45)]))
        threshold = rnd.choice([0.0, 50.0, 60.0, 75.0, 90.0, 100.0])
        limit = rnd.choice([1, 5, 10, 100])
        allowed = np.array([rnd.random() < 0.7 for _ in snapshot.class_keys], dtype=bool)
        with_metadata = rnd.random() < 0.8
        stats: dict[str, int] = {}
        hits = rank(
            snapshot,
            query,
            threshold,
            limit,
            allowed,
            with_metadata=with_metadata,
            workers=workers,
            stats=stats,
        )
        expected = []
        for row in range(snapshot.n):
            if not allowed[snapshot.classes[row]]:
                continue
            text = texts[row] if with_metadata else texts[row][: snapshot.base_len[row]]
            score = scoring.score(query, text)
            if score >= threshold:
                expected.append((-score, -int(snapshot.ids[row])))
        expected.sort()
        assert [(h.score, h.message_id) for h in hits] == [
            (-score, -ident) for score, ident in expected[:limit]
        ], (query, threshold, limit)
        pruned += stats["scored"] < stats["visible"]
        tightened += stats["tightened"] > 0
    assert pruned > 50  # the bounds do skip work, they are not only correct
    if tiering == "locality":
        assert tightened > 30  # and the locality bound took part


def test_shared_bar_across_sessions_equals_brute_force() -> None:
    """A search over many sessions (the service's loop: one ``Best``, its k-th score and
    id the bar of every later session) equals one brute-force scan over all of them,
    ties included: texts repeat across sessions, so equal scores meet at the bar."""
    rnd = random.Random(23)
    corpus = rows(1200, seed=9)
    snapshots = []
    next_id = 1
    for number in range(12):
        index = SessionIndex(f"s{number}")
        size = rnd.choice([0, 1, 5, 40, 150])
        picked = [dict(rnd.choice(corpus), id=next_id + n) for n in range(size)]
        next_id += size + rnd.randint(0, 3)
        rnd.shuffle(picked)  # events may arrive in any order
        for message in picked:
            index.add_event(message)
        snapshots.append(index.snapshot())
    texts = [text for snapshot in snapshots for text in snapshot.texts[: snapshot.n]]
    floors_used = 0
    for _ in range(120):
        source = rnd.choice(texts)
        start = rnd.randrange(len(source))
        query = prepare_query(typo(rnd, source[start : start + rnd.randint(1, 30)]))
        threshold = rnd.choice([0.0, 50.0, 60.0, 80.0, 100.0])
        limit = rnd.choice([1, 3, 10, 50])
        best = ranking.Best(limit)
        expected = []
        for snapshot in snapshots:
            allowed = np.array([rnd.random() < 0.8 for _ in snapshot.class_keys], dtype=bool)
            floors_used += best.floor > threshold
            best.add(
                rank(
                    snapshot,
                    query,
                    threshold,
                    limit,
                    allowed,
                    floor=best.floor,
                    floor_id=best.floor_id,
                )
            )
            for row in range(snapshot.n):
                if allowed[snapshot.classes[row]]:
                    score = scoring.score(query, snapshot.texts[row])
                    if score >= threshold:
                        expected.append((-score, -int(snapshot.ids[row])))
        expected.sort()
        assert [(h.score, h.message_id) for h in best.hits] == [
            (-score, -ident) for score, ident in expected[:limit]
        ], (query, threshold, limit)
    assert floors_used > 100  # later sessions did start from another session's bar


SPANNING = [
    "we saw xpol icyx again",
    "ret ry pol icy",
    "see the retry-policy doc",
    "a merge_conflict in main",
    "mer ge con flict",
    "auth midd lware",
    "po.li.cy and re.try",
    "icyx xpol",
    "middle-ware for auth",
]


@pytest.mark.parametrize("tiering", ["one", "cells", "locality"])
def test_windows_across_separators_equal_brute_force(
    tiering: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts whose best window spans a separator ("policy" against "xpol icyx" is 83.3
    through "pol ic", more than either token alone): a bound that only looked at whole
    tokens would under-estimate them and lose results; these must stay exact."""
    monkeypatch.setattr(tiers, "FIRST_TIER", 16)
    monkeypatch.setattr(tiers, "DENSE_MIN_ROWS", 10**9 if tiering == "one" else 0)
    filler = rows(300, seed=17)
    messages = [
        {**row, "id": n + 1, "session_id": "s", "metadata": None} for n, row in enumerate(filler)
    ]
    for n, content in enumerate(SPANNING):
        messages.insert(37 * n, {**filler[n], "content": content, "metadata": None})
    if tiering == "locality":
        needs_kernel()
    monkeypatch.setattr(ranking, "LOCALITY_MIN_ROWS", 8)
    monkeypatch.setattr(locality, "TABLE_US", 0.0)
    messages = [{**m, "id": n + 1} for n, m in enumerate(messages)]
    snapshot = indexed(messages, corpus=tiering == "locality").snapshot()
    allowed = np.ones(len(snapshot.class_keys), dtype=bool)
    spanning_first = tightened = 0
    for query in ["policy", "retry policy", "merge conflict", "auth middlware", "pol icy"]:
        for threshold, limit in [(60.0, 10), (75.0, 3), (80.0, 20)]:
            stats: dict[str, int] = {}
            hits = rank(snapshot, query, threshold, limit, allowed, stats=stats)
            tightened += stats["tightened"]
            expected = sorted(
                (-scoring.score(query, snapshot.texts[row]), -int(snapshot.ids[row]))
                for row in range(snapshot.n)
            )
            wanted = [(-s, -i) for s, i in expected if -s >= threshold][:limit]
            assert [(h.score, h.message_id) for h in hits] == wanted, (query, threshold)
            top = snapshot.texts[hits[0].row] if hits else ""
            spanning_first += any(top.endswith(text) for text in SPANNING)
    assert spanning_first >= 5  # the crafted texts are what the answers are made of
    assert (tightened > 0) == (tiering == "locality")
