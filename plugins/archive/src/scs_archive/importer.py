"""Reading archives: check the whole file first, then write one transaction per session.

Pass 1 parses every line, checks the header, the document structure and each record
(by its owning plugin, without writing) and the counts against the header: a bad line
is reported with its number before anything is written. Pass 2 imports each session
document in one transaction. A session imported before from the same origin (the
exporting database's instance id) is skipped whole, so importing a file twice adds
nothing; global records are idempotent by their natural keys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scs_server.archiving import ImportBatch, record_error
from scs_server.errors import ErrorCode, ScsError
from scs_server.timestamps import utc_now

from scs_archive import store
from scs_archive.format import GLOBAL, SESSION, check_header, read_lines

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from scs_server.app import App
    from scs_server.archiving import OnConflict, Record
    from scs_server.storage import Transaction

BATCH = 500


@dataclass
class ImportReport:
    """What an import did (or, dry, would do)."""

    dry_run: bool
    origin: str = ""
    records: Counter[str] = field(default_factory=Counter)
    imported: Counter[str] = field(default_factory=Counter)
    sessions_imported: int = 0
    sessions_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "origin": self.origin,
            "records": dict(sorted(self.records.items())),
            "imported": dict(sorted(self.imported.items())),
            "sessions_imported": self.sessions_imported,
            "sessions_skipped": self.sessions_skipped,
        }


@dataclass
class Document:
    """A session (``opener`` its record) or the global part (``opener`` None)."""

    opener: tuple[int, Record] | None
    batches: list[ImportBatch]


def _documents(path: Path, header_out: list[dict[str, Any]]) -> Iterator[Document]:
    """The file's documents; each yields its batches lazily through ``Document.batches``
    being filled before it is yielded (at most one document is held at a time)."""
    with path.open("rb") as stream:
        lines = read_lines(stream)
        first = next(lines, None)
        if first is None:
            raise record_error(1, "the file is empty")
        header_out.append(check_header(first[1]))
        current: Document | None = None
        for number, record in lines:
            kind = record["kind"]
            if kind in (SESSION, GLOBAL):
                if current is not None:
                    yield current
                opener = (number, record) if kind == SESSION else None
                current = Document(opener, [])
                continue
            elif current is None:
                raise record_error(number, f"a {kind!r} record before any session or global line")
            batches = current.batches
            if batches and batches[-1].kind == kind and len(batches[-1].records) < BATCH:
                batches[-1].records.append((number, record))
            else:
                batches.append(ImportBatch(kind, [(number, record)]))
        if current is not None:
            yield current


async def _run_batch(app: App, tx: Transaction | None, batch: ImportBatch) -> int:
    written = await app.host.import_batch(app, tx, batch)
    if written is not None:
        return written
    line = batch.records[0][0]
    raise record_error(
        line,
        f"no enabled plugin imports {batch.kind!r} records",
        "enable the plugin that owns them",
    )


async def check(path: Path, app: App, report: ImportReport) -> dict[str, Any]:
    """Pass 1: validate everything; return the header. Writes nothing."""
    header_out: list[dict[str, Any]] = []
    total = 0
    for document in _documents(path, header_out):
        ids: dict[str, dict[Any, Any]] = {}
        if document.opener is not None:
            total += 1
            report.records[SESSION] += 1
            await _run_batch(app, None, ImportBatch(SESSION, [document.opener], ids))
            opener_id = document.opener[1]["id"]
            ids[SESSION] = {opener_id: opener_id}  # lets records check they belong here
        else:
            total += 1
            report.records[GLOBAL] += 1
        for batch in document.batches:
            batch.ids = ids
            await _run_batch(app, None, batch)
            report.records[batch.kind] += len(batch.records)
            total += len(batch.records)
    if not header_out:
        raise record_error(1, "the file is empty")
    header = header_out[0]
    if total != header["records"] or dict(report.records) != {
        k: v for k, v in header["counts"].items() if v
    }:
        raise ScsError(
            ErrorCode.VALIDATION,
            f"the file holds {total} records, its header announces {header['records']}"
            " (truncated or edited)",
            "nothing was imported; export it again",
        )
    report.origin = str(header.get("origin") or "")
    return header


async def run(
    app: App, path: Path, *, on_conflict: OnConflict = "skip", dry_run: bool = False
) -> ImportReport:
    """Check the whole file, then (unless ``dry_run``) import it."""
    report = ImportReport(dry_run)
    header = await check(path, app, report)
    if dry_run:
        return report
    origin = report.origin or str(header.get("exported_at"))
    for document in _documents(path, []):
        if document.opener is None:
            for batch in document.batches:
                batch.on_conflict, batch.origin = on_conflict, origin
                await _import_global(app, batch, report)
            continue
        original = document.opener[1]["id"]
        if await app.db.lookup(store.imported_as, origin, original) is not None:
            report.sessions_skipped += 1
            continue
        await _import_session(app, document, origin, on_conflict, report)
    return report


async def _import_global(app: App, batch: ImportBatch, report: ImportReport) -> None:
    """One batch of the global part, in its own transaction; what its owner imported is
    remembered by origin, so importing the file again skips it."""
    originals = [str(record["id"]) for _, record in batch.records if "id" in record]
    batch.seen = frozenset(
        await app.db.lookup(store.imported_records, batch.origin, batch.kind, originals)
    )
    async with app.db.transaction() as tx:  # the CLI serves nothing: no thread hop
        report.imported[batch.kind] += await _run_batch(app, tx, batch)
        if batch.imported:
            await store.remember_records(tx, batch.origin, batch.kind, batch.imported, utc_now())


async def _import_session(
    app: App, document: Document, origin: str, on_conflict: OnConflict, report: ImportReport
) -> None:
    assert document.opener is not None
    ids: dict[str, dict[Any, Any]] = {}
    imported: Counter[str] = Counter()
    async with app.db.transaction() as tx:  # the CLI serves nothing: no thread hop
        opener = ImportBatch(SESSION, [document.opener], ids, on_conflict, origin)
        imported[SESSION] += await _run_batch(app, tx, opener)
        if opener.skipped:
            report.sessions_skipped += 1
            return
        for batch in document.batches:
            batch.ids, batch.on_conflict, batch.origin = ids, on_conflict, origin
            imported[batch.kind] += await _run_batch(app, tx, batch)
        original = document.opener[1]["id"]
        await store.remember_import(tx, origin, original, ids[SESSION][original], utc_now())
    report.imported.update(imported)
    report.sessions_imported += 1
