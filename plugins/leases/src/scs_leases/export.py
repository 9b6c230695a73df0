"""Leases in archives (``scs export --include leases``): the fencing counter and the
live leases, in the archive's global part. SQL: ``store``.

Records: ``{"kind": "lease_counter", "last_token": N}`` first, then one ``lease``
record per live lease (the fields of ``Lease``, ``id`` its lease id), by fencing token.

Import rules:

- the counter only ever goes up (``max`` of the file's and the database's), and every
  imported lease's token raises it too, so later grants still get higher tokens;
- a lease that has expired by the time of the import (by the server's clock) is skipped;
- a lease whose id is stored already is that same lease: skipped (idempotent);
- a lease that overlaps a live lease of another holder here (the grant rules of
  ``conflicts``), or whose fencing token a stored lease has, is a conflict:
  ``--on-conflict skip`` (default) and ``rename`` leave it out (a lease keeps its id
  and token, they are what its holder knows), ``fail`` stops with ``CONFLICT``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from scs_server.archiving import PAGE_SIZE, field_of, record_error
from scs_server.errors import ErrorCode, ScsError
from scs_server.timestamps import iso_timestamp

from scs_leases import rules, store
from scs_leases.conflicts import Request, find_conflicts
from scs_leases.service import LeaseService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scs_server.app import App
    from scs_server.archiving import ExportRequest, ImportBatch, Record
    from scs_server.storage import Executor, Transaction

    from scs_leases.settings import LeasesSettings

INCLUDE = "leases"
"""The ``--include`` name."""
LEASE = "lease"
COUNTER = "lease_counter"


def _now(app: App) -> str:
    """The lease service's clock (the one that decides liveness), else the wall clock."""
    service = app.services.find(LeaseService)
    return service.now() if service is not None else iso_timestamp(datetime.now(UTC))


async def export_records(
    app: App, reader: Executor, request: ExportRequest
) -> AsyncIterator[Record]:
    if request.session_id is not None or INCLUDE not in request.include:
        return
    yield {"kind": COUNTER, "last_token": await store.last_token(reader)}
    moment, after = _now(app), 0
    while True:
        page = await store.live_page(reader, moment, request.since, after, PAGE_SIZE)
        for lease in page:
            record = lease.to_dict()
            record["id"] = record.pop("lease_id")
            yield {"kind": LEASE, **record}
        if len(page) < PAGE_SIZE:
            return
        after = page[-1].fencing_token


def _check_lease(line: int, record: Record, settings: LeasesSettings) -> store.Lease:
    """The lease a record describes, every field checked as a grant would check it."""
    for name in ("id", "holder", "holder_type", "mode", "acquired_at", "renewed_at"):
        field_of(line, record, name, str)
    field_of(line, record, "expires_at", str)
    token = field_of(line, record, "fencing_token", int)
    capacity = field_of(line, record, "capacity", int, optional=True)
    resources = field_of(line, record, "resources", list)
    if token < 1:
        raise record_error(line, "lease.fencing_token must be at least 1")
    try:
        rules.check_lease_id(record["id"])
        cleaned = rules.check_resources(resources, settings)
        mode = rules.check_mode(record["mode"], capacity, settings)
        reason = rules.check_reason(field_of(line, record, "reason", str, optional=True), settings)
        session_id = rules.check_session_label(
            field_of(line, record, "session_id", str, optional=True)
        )
    except ScsError as error:
        raise record_error(line, f"lease: {error.message}") from None
    return store.Lease(
        id=record["id"],
        holder=record["holder"],
        holder_type=record["holder_type"],
        session_id=session_id,
        mode=mode,
        capacity=capacity,
        reason=reason,
        resources=cleaned,
        fencing_token=token,
        acquired_at=record["acquired_at"],
        renewed_at=record["renewed_at"],
        expires_at=record["expires_at"],
    )


async def import_records(app: App, tx: Transaction | None, batch: ImportBatch) -> int | None:
    if batch.kind not in (LEASE, COUNTER):
        return None
    if batch.kind == COUNTER:
        for line, record in batch.records:
            if field_of(line, record, "last_token", int) < 0:
                raise record_error(line, "lease_counter.last_token must not be negative")
        if tx is None:
            return len(batch.records)
        await store.lock_grants(tx, app.db.dialect)
        for _line, record in batch.records:
            await store.raise_last_token(tx, record["last_token"])
        return len(batch.records)
    settings: LeasesSettings = app.config("leases")
    leases = [(line, _check_lease(line, record, settings)) for line, record in batch.records]
    if tx is None:
        return len(leases)
    await store.lock_grants(tx, app.db.dialect)
    moment = _now(app)
    live = await store.live(tx, moment)
    written = 0
    for line, lease in leases:
        if lease.id in batch.seen or not lease.live_at(moment):
            continue  # imported before (perhaps released since), or expired since the export
        if await store.find(tx, lease.id) is not None:
            continue  # already here
        if not await _fits(tx, line, lease, live, batch):
            continue
        await store.insert(tx, lease)
        await store.raise_last_token(tx, lease.fencing_token)
        tx.emit(store.TOPIC, {"lease_id": lease.id, "what": "acquired"})
        batch.imported.append(lease.id)
        live.append(lease)
        written += 1
    return written


async def _fits(
    tx: Transaction, line: int, lease: store.Lease, live: list[store.Lease], batch: ImportBatch
) -> bool:
    """Whether ``lease`` can be stored next to ``live``; a conflict is skipped, or
    refused with ``CONFLICT`` under ``--on-conflict fail``."""
    request = Request(lease.holder, lease.mode, lease.capacity, lease.resources)
    conflicts = find_conflicts(request, live)
    taken_by = await store.holder_of_token(tx, lease.fencing_token)
    if not conflicts and taken_by is None:
        return True
    if batch.on_conflict != "fail":
        return False
    if conflicts:
        other = conflicts[0].lease
        why = f"it overlaps live lease {other.id} of {other.holder} ({', '.join(other.resources)})"
    else:
        why = f"its fencing token {lease.fencing_token} is lease {taken_by}'s here"
    raise ScsError(
        ErrorCode.CONFLICT,
        f"line {line}: lease {lease.id} of {lease.holder} cannot be imported: {why}",
        "import with --on-conflict skip to leave such leases out",
    )
