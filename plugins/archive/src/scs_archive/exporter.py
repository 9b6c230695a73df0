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

import scs_server
from scs_server.archiving import ExportRequest
from scs_server.errors import ErrorCode, ScsError, not_found, validation_error
from scs_server.timestamps import utc_now
from scs_sessions.api import session_ids

from scs_archive import store
from scs_archive.format import FORMAT_VERSION, GLOBAL, HEADER, encode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from typing import BinaryIO

    from scs_server.app import App
    from scs_server.archiving import Record
    from scs_server.storage import Executor


OPTIONAL_KINDS: dict[str, str | None] = {"memory": "memory", "leases": "leases", "audit": None}
"""What ``--include`` accepts, and the plugin that must be enabled for it (None: the core).
Memory is exported whenever its plugin is enabled; naming it checks that it is."""
GLOBAL_KINDS = frozenset({"leases", "audit"})
"""Optional kinds outside any session: never in an export limited to sessions."""


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


def check_options(app: App, options: ExportOptions) -> None:
    """Refuse (typed, before anything is read or written) what would be silently left
    out: an unknown kind, a kind whose plugin is not enabled, global kinds asked for
    together with ``sessions``."""
    unknown = sorted(options.include - OPTIONAL_KINDS.keys())
    if unknown:
        raise validation_error(
            f"unknown kind(s) to include: {', '.join(unknown)}",
            f"choose among {', '.join(sorted(OPTIONAL_KINDS))}",
        )
    for kind in sorted(options.include):
        plugin = OPTIONAL_KINDS[kind]
        if plugin is not None and plugin not in app.plugins:
            raise validation_error(
                f"cannot include {kind}: the {plugin} plugin is not enabled",
                f"enable it (SCS_PLUGINS) or leave {kind} out",
            )
    if options.sessions is not None and options.include & GLOBAL_KINDS:
        both = ", ".join(sorted(options.include & GLOBAL_KINDS))
        raise validation_error(
            f"{both} belong to no session: they cannot be exported with --session",
            "export them in a full export (without --session)",
        )


async def _check_sessions(reader: Executor, wanted: list[str]) -> None:
    """Every session asked for exists in the snapshot (else ``RESOURCE_001``)."""
    found = {session_id async for session_id in session_ids(reader, only=wanted)}
    missing = sorted(set(wanted) - found)
    if missing:
        raise not_found(
            "session" if len(missing) == 1 else "sessions",
            ", ".join(missing),
            "nothing was exported; check the ids (list_sessions)",
        )


async def records(app: App, options: ExportOptions) -> AsyncIterator[Record]:
    """Every record of the export, in file order, from one consistent snapshot."""
    check_options(app, options)
    async with app.db.read(snapshot=True) as reader:
        if options.sessions is not None:
            await _check_sessions(reader, options.sessions)
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
            "scs_version": scs_server.__version__,
            "origin": await store.instance_id(app.db),
            "exported_at": utc_now(),
            "counts": dict(sorted(counts.items())),
            "records": sum(counts.values()),
        }
        out.write(encode(header))
        body.seek(0)
        shutil.copyfileobj(body, out)
    return header
