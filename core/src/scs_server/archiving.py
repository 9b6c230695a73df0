"""What plugins see of export, import and retention (the ``scs_export``,
``scs_import`` and ``scs_retention`` hooks); the ``archive`` plugin drives them.

A record is one JSON object with a ``kind`` (``session``, ``message``, ``memory``,
``audit``...) and the fields its owning plugin chose. A plugin exports only the rows
it owns, reads them through the snapshot executor it is given, and imports only the
kinds it exported. See docs/plugins.md, "Export, import and retention".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from scs_server.errors import validation_error

if TYPE_CHECKING:
    from scs_server.errors import ScsError

Record = dict[str, Any]
OnConflict = Literal["skip", "fail", "rename"]
PAGE_SIZE = 500
"""Rows per keyset page when exporting (memory stays flat whatever the table size)."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``session_id`` None asks for records outside any session
    (global memory, audit); a session id for that session's records (the ``session``
    record itself comes first, from the sessions plugin)."""

    session_id: str | None
    since: str | None = None
    """ISO timestamp: only rows created at or after it (sessions: by creation)."""
    include: frozenset[str] = frozenset()
    """Optional kinds asked for (``audit``, ...); plugins export their core kinds always."""
    operator: bool = True
    """The server's operator asks (``scs export``); False for an MCP tool caller, which
    must not get private channels such as other agents' direct messages."""


@dataclass
class ImportBatch:
    """Consecutive records of one ``kind`` from one document (a session, or the global
    part), with their line numbers in the file.

    ``ids`` carries the document's remapping: the target session id and, per kind,
    original id -> new id (messages use it for ``parent_id``). ``on_conflict`` says
    what to do when a session id is taken by another session.
    """

    kind: str
    records: list[tuple[int, Record]]
    ids: dict[str, dict[Any, Any]] = field(default_factory=dict)
    on_conflict: OnConflict = "skip"
    origin: str = ""
    """The exporting database's instance id (idempotent imports)."""
    skipped: bool = False
    """Set by the owner of a ``session`` record to skip the rest of the document."""
    seen: frozenset[str] = frozenset()
    """Global part only: original ids (``str(record["id"])``) of this kind imported
    before from this origin; the owner skips them (a second import adds nothing, and
    does not bring back what was deleted since)."""
    imported: list[str] = field(default_factory=list)
    """Global part only: the owner appends the original id of each record it imported,
    so that a later import of the same file sees it in ``seen``."""

    def mapped(self, kind: str) -> dict[Any, Any]:
        return self.ids.setdefault(kind, {})


def record_error(line: int, message: str, hint: str | None = None) -> ScsError:
    """A typed error for a bad record, naming its line."""
    return validation_error(f"line {line}: {message}", hint or "fix or remove that line")


def field_of(
    line: int, record: Record, name: str, kind: type | tuple[type, ...], *, optional: bool = False
) -> Any:
    """``record[name]``, checked to be of ``kind`` (None allowed when ``optional``)."""
    value = record.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) and kind in (int, (int,)):
        raise record_error(line, f"{record.get('kind')}.{name} must be an integer")
    if not isinstance(value, kind):
        raise record_error(line, f"{record.get('kind')}.{name} is missing or of the wrong type")
    return value


@dataclass(frozen=True)
class RetentionPolicy:
    """What a retention run may delete. Cut-offs are ISO timestamps: rows strictly older
    go. ``session_cutoffs`` override ``messages_before`` per session; ``held`` sessions
    are never touched. Delete in batches of ``batch_size``, each its own short write
    transaction, yielding to the event loop between batches."""

    now: str
    messages_before: str | None
    audit_before: str | None
    session_cutoffs: dict[str, str]
    held: frozenset[str]
    batch_size: int = 500
    max_batches: int = 10_000
