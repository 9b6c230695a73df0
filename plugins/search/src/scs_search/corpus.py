"""One index over the messages of every session: a search without ``session_id`` ranks
them as one list (one set of score bounds, one bar, one scan in bound order).

A ``Corpus`` is a ``SessionIndex`` whose rows come from many sessions: each row also
records its session (a small code), and each session keeps its own watermark (the
highest id read from the database) and the ids above it that came by event, exactly as
a session index does. Rows are never removed: a session whose messages were deleted
(or that was deleted) has its rows marked dead (left out of every ranking) and is read
again; when a quarter of the rows are dead the corpus is rebuilt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from scs_search import locality
from scs_search.index import SessionIndex, Snapshot
from scs_search.packed import PackedTexts
from scs_search.scoring import WORD
from scs_search.text import MAX_SCORED_CHARS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ALL_SESSIONS = "*"  # the session id a corpus reports (it holds every session)


@dataclass
class SessionPart:
    """What the corpus knows of one session's messages."""

    code: int
    synced_id: int = 0  # every message of the session up to this id is a row
    synced_rows: int = 0  # rows read from the database (ids <= synced_id)
    rows: int = 0  # rows of the session in the corpus
    ahead: set[int] = field(default_factory=set)  # ids above synced_id, from events


class Corpus(SessionIndex):
    """The rows of every session in one index (see the module doc)."""

    ROW_ARRAYS = (*SessionIndex.ROW_ARRAYS, "sessions", "token_ends")

    def __init__(self, max_chars: int = MAX_SCORED_CHARS, capacity: int = 8) -> None:
        super().__init__(ALL_SESSIONS, max_chars, capacity)
        self.texts = PackedTexts()
        self.sessions = np.zeros(self.capacity, dtype=np.int32)
        # the rows' tokens for ``locality`` (only with its compiled kernel: without it
        # they would cost bytes and never be read)
        self.tokenised = locality.available()
        self.vocabulary = locality.Vocabulary()
        self.token_ends = np.zeros(self.capacity, dtype=np.uint32)  # < 4G tokens: 8 GB
        self.stream = np.zeros(0, dtype=np.uint16)
        self.stream_used = 0
        self.parts: dict[str, SessionPart] = {}
        self._codes = 0
        self._dead: list[npt.NDArray[np.int64]] = []
        self.dead_rows = 0
        self._live: npt.NDArray[np.bool_] | None = None  # cached mask, None: rebuild it
        self._ahead = 0  # ids in every part's ``ahead``: nbytes runs after each event

    def part(self, session_id: str) -> SessionPart:
        """The session's part (a new, empty one for a session not seen before)."""
        part = self.parts.get(session_id)
        if part is None:
            self._codes += 1
            part = self.parts[session_id] = SessionPart(self._codes)
        return part

    def holds_in(self, session_id: str, ident: int) -> bool:
        """Whether message ``ident`` of the session is a row (read, or from an event)."""
        part = self.parts.get(session_id)
        return part is not None and (ident <= part.synced_id or ident in part.ahead)

    def add_session_rows(self, session_id: str, messages: Sequence[Mapping[str, Any]]) -> None:
        """Add the session's messages read from the database above its watermark, in id
        order (the watermark moves to the last one)."""
        with self._writing:
            part = self.part(session_id)
            fresh = [m for m in messages if int(m["id"]) not in part.ahead]
            self._append_part(part, fresh)
            if messages:
                part.synced_id = max(part.synced_id, int(messages[-1]["id"]))
                moved = {ident for ident in part.ahead if ident <= part.synced_id}
                part.ahead -= moved
                self._ahead -= len(moved)
                # rows up to the watermark: what was read, and events it overtook (an
                # event's message deleted since makes the count check fail: rebuild)
                part.synced_rows += len(fresh) + len(moved)

    def add_session_event(self, session_id: str, message: Mapping[str, Any]) -> bool:
        """Add a message announced by an event, unless it is a row already."""
        ident = int(message["id"])
        with self._writing:
            part = self.part(session_id)
            if ident <= part.synced_id or ident in part.ahead:
                return False
            self._append_part(part, [message])
            part.ahead.add(ident)
            self._ahead += 1
        return True

    def _append_part(self, part: SessionPart, fresh: Sequence[Mapping[str, Any]]) -> None:
        if not fresh:
            return
        start = self._append_locked(fresh)
        self.sessions[start : start + len(fresh)] = part.code
        part.rows += len(fresh)

    def _add_tokens(self, start: int, texts: list[str]) -> None:
        if not self.tokenised:
            return
        encode, findall = self.vocabulary.encode, WORD.findall
        encoded = [encode(findall(text)) for text in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        used = self.stream_used
        end = used + int(lengths.sum())
        if end > len(self.stream):
            grown = np.zeros(
                max(end, len(self.stream) + len(self.stream) // self.growth), np.uint16
            )
            grown[:used] = self.stream[:used]
            self.stream = grown
        self.stream[used:end] = np.fromiter(chain.from_iterable(encoded), np.uint16, end - used)
        self.token_ends[start : start + len(texts)] = used + np.cumsum(lengths)
        self.stream_used = end

    def _texts_nbytes(self) -> int:
        assert isinstance(self.texts, PackedTexts)
        return self.texts.nbytes()

    def compact(self, growth: int = 16) -> None:
        super().compact(growth)
        with self._writing:
            self.stream = self.stream[: self.stream_used].copy()
            assert isinstance(self.texts, PackedTexts)
            self.texts.compact()

    def snapshot(self) -> Snapshot:
        snapshot = super().snapshot()
        if not self.tokenised:
            return snapshot
        # read after the row count: a row's tokens are written before the row counts
        tokens = locality.TokenStream(self.vocabulary, self.stream, self.token_ends)
        return dataclasses.replace(snapshot, tokens=tokens)

    def drop_session(self, session_id: str) -> None:
        """Mark the session's rows dead (a deletion, or the session is gone)."""
        with self._writing:
            part = self.parts.pop(session_id, None)
            if part is None:
                return
            self._ahead -= len(part.ahead)
            if not part.rows:
                return
            n = len(self.texts)
            rows = np.flatnonzero(self.sessions[:n] == part.code).astype(np.int64)
            self._dead.append(rows)
            self.dead_rows += len(rows)
            self._live = None

    def live(self, n: int) -> npt.NDArray[np.bool_] | None:
        """One flag per row of the first ``n``: not dead (None when no row is dead)."""
        if not self.dead_rows:
            return None
        with self._writing:
            if self._live is None or len(self._live) < n:
                live = np.ones(len(self.texts), dtype=bool)
                for rows in self._dead:
                    live[rows] = False
                self._live = live
            return self._live[:n]

    def nbytes(self) -> int:
        parts = 200 * len(self.parts) + 64 * self._ahead
        tokens = self.stream.nbytes + (self.vocabulary.nbytes() if self.tokenised else 0)
        return super().nbytes() + parts + 8 * self.dead_rows + tokens
