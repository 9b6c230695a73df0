"""The change-feed bookkeeping that decides whether an index needs a database check."""

from __future__ import annotations

from scs_search.changes import MAX_PENDING_IDS, Announced
from scs_server.storage import Change


def added(session_id: str, ident: int) -> Change:
    return Change(1, "messages", {"session_id": session_id, "id": ident})


def test_untracked_sessions_always_need_a_check_and_are_not_recorded() -> None:
    announced = Announced()
    announced.on_change(added("s1", 5))
    assert not announced.settled("s1", lambda _ident: True)
    assert announced._pending == {}  # nothing kept for sessions without an index


def test_announced_ids_are_settled_once_the_index_holds_them() -> None:
    announced = Announced()
    announced.track("s1")
    assert announced.settled("s1", lambda _ident: False)  # nothing announced
    announced.on_change(added("s1", 7))  # committed during or after the check
    assert not announced.settled("s1", lambda ident: ident <= 6)
    assert announced.settled("s1", lambda ident: ident <= 7)  # the event indexed it
    assert announced.settled("s1", lambda _ident: False)  # forgotten once settled


def test_changes_without_an_id_or_of_a_session_need_a_check() -> None:
    announced = Announced()
    for change in (
        Change(1, "messages", {"session_id": "s1"}),  # a deletion, a hand-made write
        Change(2, "sessions", {"session_id": "s1"}),
        Change(3, "messages", {"session_id": "s1", "id": "7"}),
    ):
        announced.track("s1")
        announced.on_change(change)
        assert not announced.settled("s1", lambda _ident: True), change
    announced.track("s1")
    announced.on_change(added("s2", 1))  # another session: no effect
    assert announced.settled("s1", lambda _ident: False)


def test_a_change_of_unknown_sessions_checks_every_index() -> None:
    announced = Announced()
    announced.track("s1")
    announced.track("s2")
    announced.on_change(Change(1, "messages", None))
    assert not announced.settled("s1", lambda _ident: True)
    assert not announced.settled("s2", lambda _ident: True)


def test_too_many_announced_ids_become_one_check() -> None:
    announced = Announced()
    announced.track("s1")
    for ident in range(1, MAX_PENDING_IDS + 2):
        announced.on_change(added("s1", ident))
    assert not announced.settled("s1", lambda _ident: True)


def test_forget_means_check_again() -> None:
    announced = Announced()
    announced.track("s1")
    announced.forget("s1")
    assert not announced.settled("s1", lambda _ident: True)
