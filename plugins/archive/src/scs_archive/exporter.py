"""Writing archives: every enabled plugin's records, read in one snapshot.

The body is streamed to a scratch file (constant memory), then the header, which
needs the counts, is written first and the body copied after it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import scs
from scs.archiving import ExportRequest
from scs.errors import ErrorCode, ScsError
from scs.timestamps import utc_now
from scs_sessions.api import session_ids

from scs_archive import store
from scs_archive.format import FORMAT_VERSION, GLOBAL, HEADER, encode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from typing import BinaryIO

    from scs.app import App
    from scs.archiving import Record
    from scs.storage import Executor


@dataclass(frozen=True)
class ExportOptions:
    """``sessions`` None: every session plus the records outside sessions."""

    sessions: list[str] | None = None
    since: str | None = None
    include: frozenset[str] = field(default_factory=frozenset)
    operator: bool = True
    """False for an MCP tool (``export_session``): see ``ExportRequest.operator``."""


async def _records_of(app: App, reader: Executor, request: ExportRequest) -> AsyncIterator[Record]:
    for records in app.host.export_records(app, reader, request):
        async for record in records:
            yield record


async def records(app: App, options: ExportOptions) -> AsyncIterator[Record]:
    """Every record of the export, in file order, from one consistent snapshot."""
    async with app.db.read(snapshot=True) as reader:
        async for session_id in session_ids(reader, only=options.sessions, since=options.since):
            request = ExportRequest(
                session_id, options.since, options.include, operator=options.operator
            )
            async for record in _records_of(app, reader, request):
                yield record
        if options.sessions is None:
            yield {"kind": GLOBAL}
            request = ExportRequest(None, options.since, options.include, operator=options.operator)
            async for record in _records_of(app, reader, request):
                yield record


async def write(
    app: App,
    out: BinaryIO,
    options: ExportOptions,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write a complete archive to ``out``; return its header."""
    counts: Counter[str] = Counter()
    written = 0
    with tempfile.TemporaryFile() as body:
        async for record in records(app, options):
            line = encode(record)
            written += len(line)
            if max_bytes is not None and written > max_bytes:
                raise ScsError(
                    ErrorCode.VALIDATION_TOO_LARGE,
                    f"the export is larger than {max_bytes} bytes",
                    "use `scs export --session ID` on the server, or raise "
                    "SCS_ARCHIVE_EXPORT_MAX_BYTES",
                    limit=max_bytes,
                )
            body.write(line)
            counts[record["kind"]] += 1
            if progress is not None and sum(counts.values()) % 1000 == 0:
                progress(sum(counts.values()))
        header = {
            "kind": HEADER,
            "format": FORMAT_VERSION,
            "scs_version": scs.__version__,
            "origin": await store.instance_id(app.db),
            "exported_at": utc_now(),
            "counts": dict(sorted(counts.items())),
            "records": sum(counts.values()),
        }
        out.write(encode(header))
        body.seek(0)
        shutil.copyfileobj(body, out)
    return header
