"""The session index: events and database reads interleave without losing or doubling rows."""

from __future__ import annotations

from typing import Any

from scs_search.index import SessionIndex


def message(ident: int) -> dict[str, Any]:
    return {
        "id": ident,
        "sender": "alice",
        "sender_type": "claude",
        "content": f"message number {ident}",
        "visibility": "public",
        "metadata": {"n": ident} if ident % 2 else None,
    }


def test_events_and_reads_interleave() -> None:
    index = SessionIndex("s", capacity=8)
    assert index.add_event(message(5))  # an event before the first read
    index.add_synced([message(i) for i in (1, 2, 3)])
    index.add_synced([message(i) for i in (4, 5, 6)])  # 5 came by event already
    assert sorted(index.ids[: len(index)].tolist()) == [1, 2, 3, 4, 5, 6]
    assert not index.add_event(message(3))  # read already
    assert index.add_event(message(9))  # events may skip ahead...
    assert index.add_event(message(8))  # ...and arrive out of order
    assert not index.add_event(message(9))
    index.add_synced([message(i) for i in (7, 8, 9)])
    index.synced_to(9)
    assert sorted(index.ids[: len(index)].tolist()) == list(range(1, 10))
    assert index.ahead == set() and index.synced_id == 9 and index.max_id == 9
    snapshot = index.snapshot()
    row = index.ids[: len(index)].tolist().index(7)
    assert snapshot.texts[row] == "alice message number 7 7"  # metadata values appended
    assert snapshot.base_len[row] == len("alice message number 7")


def test_growth_keeps_rows_and_signatures() -> None:
    index = SessionIndex("s", capacity=8)
    index.add_synced([message(i) for i in range(1, 4)])
    before = index.snapshot()
    index.add_synced([message(i) for i in range(4, 3000)])  # a bulk load: exact room
    assert index.capacity == 3000
    for ident in range(3000, 3100):  # one by one: grows by a quarter at a time
        index.add_event(message(ident))
    assert index.capacity == 3752  # 3000 -> 3752, not doubled to 6000
    after = index.snapshot()
    assert after.n == 3099 and before.n == 3
    assert (after.signatures[:, :1] & before.signatures[:, :1] == before.signatures[:, :1]).all()
    assert after.ids[:3].tolist() == before.ids[:3].tolist() == [1, 2, 3]


def test_compact_drops_the_room_and_keeps_rows_and_signatures() -> None:
    index = SessionIndex("s", capacity=8)
    index.add_synced([message(i) for i in range(1, 1000)])
    for ident in range(1000, 1010):  # one by one: room for a quarter more
        index.add_event(message(ident))
    assert index.capacity == 1256
    before = index.snapshot()
    index.compact()
    assert index.capacity == 1016  # 1,009 rows, rounded up to whole signature bytes
    after = index.snapshot()
    assert (after.signatures == before.signatures[:, : 1016 // 8]).all()
    assert after.ids[:1009].tolist() == before.ids[:1009].tolist()
    for ident in range(1010, 1020):  # later appends grow by a 16th, not a quarter
        index.add_event(message(ident))
    assert index.capacity == 1080
    assert index.snapshot().ids[1009:1019].tolist() == list(range(1010, 1020))
