"""Retention: delete what is older than the limits, never in a held session.

A run builds one ``RetentionPolicy`` (global limits from the settings, per-session
days and holds from ``archive_policies``) and hands it to every plugin's
``scs_retention``; each deletes its own rows in small transactions. A run that
deleted anything writes one audit row (``retention_purge``) with the counts.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from scs_server.archiving import RetentionPolicy
from scs_server.auth import store as auth_store
from scs_server.periodic import Periodic
from scs_server.timestamps import iso_timestamp

from scs_archive import store

if TYPE_CHECKING:
    from scs_server.app import App

    from scs_archive.settings import ArchiveSettings


def cutoff(now: datetime, days: int) -> str:
    return iso_timestamp(now - timedelta(days=days))


async def build_policy(app: App, settings: ArchiveSettings, now: datetime) -> RetentionPolicy:
    held: set[str] = set()
    per_session: dict[str, str] = {}
    for session_id, days, is_held in await store.all_policies(app.db):
        if is_held:
            held.add(session_id)
        elif days is not None:
            per_session[session_id] = cutoff(now, days)
    return RetentionPolicy(
        now=iso_timestamp(now),
        messages_before=(
            cutoff(now, settings.message_retention_days)
            if settings.message_retention_days
            else None
        ),
        # one audit rule for the whole server: the core's SCS_AUDIT_RETENTION_DAYS
        audit_before=(
            cutoff(now, app.settings.audit_retention_days)
            if app.settings.audit_retention_days
            else None
        ),
        session_cutoffs=per_session,
        held=frozenset(held),
        batch_size=settings.retention_batch_size,
    )


@dataclass
class Retention:
    """Runs retention now (``run_once``) or every ``retention_interval_s`` (``start``)."""

    app: App
    settings: ArchiveSettings
    runs: int = 0
    purged: Counter[str] = field(default_factory=Counter)
    _every: Periodic | None = field(default=None, repr=False)

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        policy = await build_policy(self.app, self.settings, now or datetime.now(UTC))
        counts = Counter(await self.app.host.retention(self.app, policy))
        self.runs += 1
        self.purged.update(counts)
        removed = {kind: n for kind, n in sorted(counts.items()) if n}
        if removed:
            detail = json.dumps({"removed": removed, "messages_before": policy.messages_before})
            await auth_store.audit(self.app.db, "retention_purge", "success", detail=detail)
        return removed

    def stats(self) -> dict[str, Any]:
        return {"runs": self.runs, "purged": dict(sorted(self.purged.items()))}

    def start(self) -> None:
        if self._every is None:
            self._every = Periodic(
                "scs-archive-retention", self.settings.retention_interval_s, self.run_once
            )
        self._every.start()

    async def stop(self) -> None:
        if self._every is not None:
            await self._every.stop()
