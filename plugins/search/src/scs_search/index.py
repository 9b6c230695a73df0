"""The in-memory index of one session: prepared texts, ids, visibility classes, signatures.

Rows are appended in any id order (events can arrive out of order); nothing is
ever removed: a deletion seen in the database makes the cache rebuild the index.
A search works on a ``Snapshot`` (the first ``n`` rows), so appends made while
it runs in a worker thread do not disturb it.
"""

from __future__ import annotations

import sys
import threading
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scs_messaging.api import metadata_canonical as canonical

from scs_search import grams
from scs_search.text import MAX_SCORED_CHARS, prepare

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from scs_search.locality import TokenStream
    from scs_search.packed import PackedTexts

ClassKey = tuple[str, str, str]  # (visibility, sender, sender_type)


@dataclass(frozen=True)
class Snapshot:
    """The first ``n`` rows of an index, safe to read while the index grows."""

    n: int
    texts: Sequence[str]  # a list, or a corpus's ``PackedTexts``
    ids: npt.NDArray[np.int64]
    classes: npt.NDArray[np.int32]
    full_len: npt.NDArray[np.int32]
    base_len: npt.NDArray[np.int32]
    signatures: npt.NDArray[np.uint8]
    class_keys: tuple[ClassKey, ...]
    stamps: npt.NDArray[np.int64]
    tokens: TokenStream | None = None  # the rows' tokens (a corpus: ``locality``)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch (exact integer arithmetic)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def stamp_micros(stamp: object) -> int:
    """A stored timestamp (``2026-11-25T21:15:48.123456Z``) as microseconds (0 when it
    is missing or unreadable: such a message never passes a time filter)."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return 0
    return micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def stamps_micros(stamps: Sequence[object]) -> npt.NDArray[np.int64]:
    """Stored timestamps as microseconds, parsed by numpy at once (one by one if any is
    odd)."""
    try:
        naive = [str(stamp).removesuffix("Z") for stamp in stamps]
        parsed: npt.NDArray[np.int64] = np.array(naive, dtype="datetime64[us]").astype(np.int64)
    except ValueError:
        return np.array([stamp_micros(stamp) for stamp in stamps], dtype=np.int64)
    return parsed


def pair_key(key: str, value: object) -> str:
    """The index key of a metadata pair (see ``scs_messaging.metadata_filter``)."""
    return f"{key}\x00{canonical(value)}"


class SessionIndex:
    """Everything needed to rank a session's messages without reading them again."""

    # the per-row numpy arrays (grown together; a subclass may add its own)
    ROW_ARRAYS: tuple[str, ...] = ("ids", "classes", "full_len", "base_len", "stamps")

    def __init__(
        self, session_id: str, max_chars: int = MAX_SCORED_CHARS, capacity: int = 8
    ) -> None:
        self.session_id = session_id
        self.max_chars = max_chars
        self.texts: list[str] | PackedTexts = []
        self._text_bytes = 0  # sys.getsizeof of every text, kept as they are added
        self.class_keys: list[ClassKey] = []
        self._class_codes: dict[ClassKey, int] = {}
        capacity = max(8, -(-capacity // 8) * 8)
        self.ids = np.zeros(capacity, dtype=np.int64)
        self.classes = np.zeros(capacity, dtype=np.int32)
        self.full_len = np.zeros(capacity, dtype=np.int32)
        self.base_len = np.zeros(capacity, dtype=np.int32)
        self.signatures = grams.new_signatures(capacity)
        self.stamps = np.zeros(capacity, dtype=np.int64)
        # rows of each scalar top-level metadata pair, for metadata_filter
        self.pairs: dict[str, array[int]] = {}
        self._pair_rows = 0
        # every message of the session with an id <= synced_id is indexed (read from
        # the database); ids above it came from events and are listed in ``ahead``
        self.synced_id = 0
        self.ahead: set[int] = set()
        self.max_id = 0
        self._writing = threading.Lock()  # big loads run in a worker thread
        self.growth = 4  # appends beyond the capacity add a quarter (see ``compact``)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def capacity(self) -> int:
        return len(self.ids)

    def nbytes(self) -> int:
        """Approximate memory held: arrays (at capacity), strings, list slots, id set."""
        arrays: int = self.signatures.nbytes
        for name in self.ROW_ARRAYS:
            arrays += int(getattr(self, name).nbytes)
        pairs = 8 * self._pair_rows + 120 * len(self.pairs)
        return arrays + self._texts_nbytes() + 64 * len(self.ahead) + pairs + 512

    def _texts_nbytes(self) -> int:
        return self._text_bytes + 8 * len(self.texts)  # the strings and the list's slots

    def _grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        # a bulk load gets exactly its rows (a doubling left up to half of the arrays and
        # signatures empty); one-by-one appends grow by a ``growth``-th, amortised
        self._resize(max(needed, self.capacity + self.capacity // self.growth))

    def _resize(self, capacity: int) -> None:
        capacity = -(-capacity // 8) * 8
        for name in self.ROW_ARRAYS:
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            kept = min(len(old), capacity)
            new[:kept] = old[:kept]
            setattr(self, name, new)
        signatures = grams.new_signatures(capacity)
        kept = min(self.signatures.shape[1], signatures.shape[1])
        signatures[:, :kept] = self.signatures[:, :kept]
        self.signatures = signatures

    def compact(self, growth: int = 16) -> None:
        """Drop the room left for rows not added yet (after a bulk build); later
        appends grow the arrays by a ``growth``-th at a time."""
        with self._writing:
            self.growth = growth
            self._resize(max(8, len(self.texts)))

    def _class_code(self, key: ClassKey) -> int:
        code = self._class_codes.get(key)
        if code is None:
            code = len(self.class_keys)
            self.class_keys.append(key)
            self._class_codes[key] = code
        return code

    def add_synced(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Add messages read from the database above ``synced_id``, in id order.

        The database shows every id up to the last one read, so the watermark moves
        there at once: an event for any of them arriving later is then ignored.
        """
        with self._writing:
            self._append_locked([m for m in messages if int(m["id"]) not in self.ahead])
            if messages:
                self._synced_to(int(messages[-1]["id"]))

    def synced_to(self, upto: int) -> None:
        """Every message of the session up to id ``upto`` is now indexed."""
        with self._writing:
            self._synced_to(upto)

    def _synced_to(self, upto: int) -> None:
        self.synced_id = max(self.synced_id, upto)
        self.ahead = {ident for ident in self.ahead if ident > self.synced_id}

    def holds(self, ident: int) -> bool:
        """Whether message ``ident`` of the session is indexed (read, or from an event)."""
        return ident <= self.synced_id or ident in self.ahead

    def add_event(self, message: Mapping[str, Any]) -> bool:
        """Add a message announced by an event, unless it is indexed already."""
        ident = int(message["id"])
        with self._writing:
            if self.holds(ident):
                return False
            self._append_locked([message])
            self.ahead.add(ident)
        return True

    def _append_locked(self, fresh: Sequence[Mapping[str, Any]]) -> int:
        """Append ``fresh`` as new rows; returns the first of them."""
        start = len(self.texts)
        self._grow(start + len(fresh))
        texts = []
        for row, message in enumerate(fresh, start):
            text, base = prepare(
                message["sender"], message["content"], message["metadata"], self.max_chars
            )
            ident = int(message["id"])
            texts.append(text)
            self.ids[row] = ident
            self.classes[row] = self._class_code(
                (message["visibility"], message["sender"], message["sender_type"])
            )
            self.full_len[row] = len(text)
            self.base_len[row] = base
            self._add_pairs(message["metadata"], row)
            self.max_id = max(self.max_id, ident)
        self.stamps[start : start + len(fresh)] = stamps_micros(
            [message.get("timestamp") for message in fresh]
        )
        grams.set_signatures(self.signatures, texts, start)
        self._add_tokens(start, texts)
        self._text_bytes += sum(map(sys.getsizeof, texts))
        self.texts.extend(texts)  # last: a snapshot never sees a row before its bits
        return start

    def _add_tokens(self, start: int, texts: list[str]) -> None:
        """Rows ``start...`` get ``texts``: a subclass may keep more of them (a corpus
        keeps their tokens)."""

    def _add_pairs(self, metadata: object, row: int) -> None:
        if not isinstance(metadata, dict):
            return
        for key, value in metadata.items():
            text = canonical(value)
            if text is None:
                continue
            pair = f"{key}\x00{text}"
            rows = self.pairs.get(pair)
            if rows is None:
                rows = self.pairs[pair] = array("q")
            rows.append(row)
            self._pair_rows += 1

    def snapshot(self) -> Snapshot:
        n = len(self.texts)
        return Snapshot(
            n=n,
            texts=self.texts,
            ids=self.ids,
            classes=self.classes,
            full_len=self.full_len,
            base_len=self.base_len,
            signatures=self.signatures,
            class_keys=tuple(self.class_keys),
            stamps=self.stamps,
        )

    def rows_matching(
        self,
        n: int,
        wanted: Mapping[str, Any] | None,
        since: int | None,
        until: int | None,
    ) -> npt.NDArray[np.bool_]:
        """One flag for each of the first ``n`` rows: whether its metadata holds every
        pair of ``wanted`` and its timestamp (microseconds) is in ``[since, until]``."""
        flags = np.ones(n, dtype=bool)
        with self._writing:  # the row arrays must not grow under us
            if since is not None:
                flags &= self.stamps[:n] >= since
            if until is not None:
                flags &= self.stamps[:n] <= until
            for key, value in (wanted or {}).items():
                rows = self.pairs.get(pair_key(key, value))
                if rows is None:
                    return np.zeros(n, dtype=bool)
                found = np.array(rows, dtype=np.int64)
                has = np.zeros(n, dtype=bool)
                has[found[found < n]] = True
                flags &= has
        return flags
