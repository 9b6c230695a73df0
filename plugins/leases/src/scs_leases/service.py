"""What the lease tools do: grants, waits, renewals, releases, listings, expiry.

Every decision about liveness compares ``expires_at`` with ``clock()`` (a wall clock
by default, replaceable for tests); the database's own clock is never asked. A lease
past its ``expires_at`` is never honoured, whether or not the sweep has removed it.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from scs_server import ErrorCode, Identity, ScsError
from scs_server.auth.store import audit_in
from scs_server.timestamps import iso_timestamp, parse_iso

from scs_leases import rules, store
from scs_leases.conflicts import Conflict, Request, find_conflicts
from scs_leases.waiters import WaitQueue, sleep_until_woken

if TYPE_CHECKING:
    from collections.abc import Callable

    from scs_server.app import App
    from scs_server.storage import Transaction

    from scs_leases.settings import LeasesSettings

SOURCE = "leases"
ACQUIRED = "lease.acquired"
RELEASED = "lease.released"
EXPIRED = "lease.expired"
FORCE_RELEASE_ACTION = "lease.force_release"
EXPIRY_MARGIN_S = 0.001  # wake just after the earliest blocking lease expires


def wall_clock() -> datetime:
    return datetime.now(UTC)


def new_lease_id() -> str:
    return "lease_" + secrets.token_hex(12)


def _conflict_error(conflicts: list[Conflict]) -> ScsError:
    first = conflicts[0].lease
    others = f" and {len(conflicts) - 1} more" if len(conflicts) > 1 else ""
    return ScsError(
        ErrorCode.LEASE_CONFLICT,
        f"{first.holder} holds {', '.join(first.resources)} ({first.mode}) until "
        f"{first.expires_at}{others}; nothing was granted",
        "wait with wait_s, work on other files, or ask the holder (conflicts lists each)",
        conflicts=[conflict.to_dict() for conflict in conflicts],
    )


def _not_found(lease_id: str) -> ScsError:
    return ScsError(
        ErrorCode.NOT_FOUND,
        f"lease {lease_id} not found (released, expired or never granted)",
        "list_leases shows the live leases; acquire_lease again if you still need it",
    )


def _not_holder(lease: store.Lease, verb: str) -> ScsError:
    return ScsError(
        ErrorCode.AUTH_FORBIDDEN,
        f"lease {lease.id} is held by {lease.holder}; only its holder may {verb} it",
        "an admin can force_release_lease a lease left behind",
    )


@dataclass
class LeaseService:
    """The leases plugin's operations, shared by its tools, resource, CLI and sweep."""

    app: App
    settings: LeasesSettings
    clock: Callable[[], datetime] = wall_clock
    queue: WaitQueue = field(default_factory=WaitQueue)

    def now(self) -> str:
        return iso_timestamp(self.clock())

    # -- acquire -----------------------------------------------------------------

    async def acquire(
        self,
        identity: Identity,
        resources: list[str],
        *,
        mode: str = "exclusive",
        ttl_s: int = 300,
        reason: str | None = None,
        session_id: str | None = None,
        wait_s: float = 0,
        capacity: int | None = None,
    ) -> dict[str, Any]:
        settings = self.settings
        cleaned = rules.check_resources(resources, settings)
        effective_mode = rules.check_mode(mode, capacity, settings)
        rules.check_ttl(ttl_s, settings)
        rules.check_wait(wait_s, settings)
        reason = rules.check_reason(reason, settings)
        session_id = rules.check_session_label(session_id)
        request = Request(identity.agent_id, effective_mode, capacity, cleaned)
        grant = _Grant(request, identity.agent_type, ttl_s, reason, session_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        lease = await (self._wait_for(grant, wait_s) if wait_s > 0 else self._try(grant))
        return {
            "success": True,
            **lease.to_dict(),
            "waited_s": round(loop.time() - started, 6) if wait_s > 0 else 0.0,
        }

    async def _try(self, grant: _Grant) -> store.Lease:
        lease = await self.app.db.write(self._grant, grant, self.clock())
        await self.app.emit(ACQUIRED, source=SOURCE, lease=lease.to_dict())
        return lease

    async def _grant(self, tx: Transaction, grant: _Grant, moment_dt: datetime) -> store.Lease:
        """The grant's transaction: all requested resources or none."""
        moment = iso_timestamp(moment_dt)
        await store.lock_grants(tx, self.app.db.dialect)
        live = await store.live(tx, moment)
        conflicts = find_conflicts(grant.request, live)
        if conflicts:
            raise _conflict_error(conflicts)
        held = sum(1 for lease in live if lease.holder == grant.request.holder)
        if held >= self.settings.max_leases_per_agent:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"you hold {held} live leases; the limit is {self.settings.max_leases_per_agent}",
                "release leases you no longer need, or lease a pattern covering many files",
                limit=self.settings.max_leases_per_agent,
            )
        lease = store.Lease(
            id=new_lease_id(),
            holder=grant.request.holder,
            holder_type=grant.holder_type,
            session_id=grant.session_id,
            mode=grant.request.mode,
            capacity=grant.request.capacity,
            reason=grant.reason,
            resources=grant.request.resources,
            fencing_token=await store.next_fencing_token(tx),
            acquired_at=moment,
            renewed_at=moment,
            expires_at=iso_timestamp(moment_dt + timedelta(seconds=grant.ttl_s)),
        )
        await store.insert(tx, lease)
        tx.emit(store.TOPIC, {"lease_id": lease.id, "what": "acquired"})
        return lease

    async def _wait_for(self, grant: _Grant, wait_s: float) -> store.Lease:
        """Retry until granted or ``wait_s`` passes (see ``waiters``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        waiter = self.queue.join(grant.request.resources)
        try:
            while True:
                waiter.woken.clear()  # before trying: a change during the try wakes us
                refused: ScsError | None = None
                if self.queue.may_try(waiter):
                    try:
                        return await self._try(grant)
                    except ScsError as error:
                        if error.code != ErrorCode.LEASE_CONFLICT:
                            raise
                        refused = error
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if refused is None:  # never our turn: one last try, then the answer
                        return await self._try(grant)
                    raise refused
                timeout = min(remaining, self.settings.wait_poll_s, self._until_expiry(refused))
                await sleep_until_woken(waiter, timeout)
        finally:
            self.queue.leave(waiter)

    def _until_expiry(self, refused: ScsError | None) -> float:
        """Seconds until the first lease in the way expires (by the service's clock)."""
        if refused is None:
            return self.settings.wait_poll_s
        ends = [parse_iso(c["expires_at"], "expires_at") for c in refused.details["conflicts"]]
        left = (min(ends) - self.clock()).total_seconds() + EXPIRY_MARGIN_S
        return max(left, EXPIRY_MARGIN_S)

    def wake_waiters(self) -> None:
        """Called for every ``leases`` change: each waiter looks again."""
        self.queue.wake_all()

    # -- renew, release ------------------------------------------------------------

    async def renew(self, identity: Identity, lease_id: str, ttl_s: int) -> dict[str, Any]:
        lease_id = rules.check_lease_id(lease_id)
        rules.check_ttl(ttl_s, self.settings)
        lease = await self.app.db.write(
            self._renew, identity.agent_id, lease_id, ttl_s, self.clock()
        )
        return {"success": True, **lease.to_dict()}

    async def _renew(
        self, tx: Transaction, agent_id: str, lease_id: str, ttl_s: int, moment_dt: datetime
    ) -> store.Lease:
        moment = iso_timestamp(moment_dt)
        await store.lock_grants(tx, self.app.db.dialect)
        lease = await store.find(tx, lease_id)
        if lease is None or not lease.live_at(moment):
            raise _not_found(lease_id)
        if lease.holder != agent_id:
            raise _not_holder(lease, "renew")
        expires_at = iso_timestamp(moment_dt + timedelta(seconds=ttl_s))
        await store.extend(tx, lease_id, moment, expires_at)
        tx.emit(store.TOPIC, {"lease_id": lease_id, "what": "renewed"})
        return replace(lease, renewed_at=moment, expires_at=expires_at)

    async def release(self, identity: Identity, lease_id: str) -> dict[str, Any]:
        lease_id = rules.check_lease_id(lease_id)
        lease = await self.app.db.write(self._release, identity, lease_id, self.clock(), False)
        await self.app.emit(
            RELEASED, source=SOURCE, lease=lease.to_dict(), by=identity.agent_id, forced=False
        )
        return {"success": True, "released": True, "lease_id": lease_id}

    async def force_release(self, identity: Identity, lease_id: str) -> dict[str, Any]:
        lease_id = rules.check_lease_id(lease_id)
        lease = await self.app.db.write(self._release, identity, lease_id, self.clock(), True)
        await self.app.emit(
            RELEASED, source=SOURCE, lease=lease.to_dict(), by=identity.agent_id, forced=True
        )
        return {
            "success": True,
            "released": True,
            "lease_id": lease_id,
            "holder": lease.holder,
            "audited": True,
        }

    async def _release(
        self, tx: Transaction, identity: Identity, lease_id: str, moment_dt: datetime, forced: bool
    ) -> store.Lease:
        moment = iso_timestamp(moment_dt)
        await store.lock_grants(tx, self.app.db.dialect)
        lease = await store.find(tx, lease_id)
        # an admin may clear an expired lease the sweep has not reached; a holder's
        # expired lease is gone already
        if lease is None or (not forced and not lease.live_at(moment)):
            raise _not_found(lease_id)
        if not forced and lease.holder != identity.agent_id:
            raise _not_holder(lease, "release")
        await store.delete(tx, lease_id)
        if forced:
            await audit_in(
                tx,
                FORCE_RELEASE_ACTION,
                "success",
                agent_id=identity.agent_id,
                detail=f"lease {lease_id} of {lease.holder} on {', '.join(lease.resources)}",
            )
        tx.emit(store.TOPIC, {"lease_id": lease_id, "what": "released"})
        return lease

    # -- reading -------------------------------------------------------------------

    async def live(self) -> list[store.Lease]:
        async with self.app.db.read() as r:
            return await store.live(r, self.now())

    async def listing(
        self,
        resource_prefix: str | None = None,
        holder: str | None = None,
        session_id: str | None = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        leases = [
            lease
            for lease in await self.live()
            if (holder is None or lease.holder == holder)
            and (session_id is None or lease.session_id == session_id)
            and (not resource_prefix or any(r.startswith(resource_prefix) for r in lease.resources))
        ]
        shown = leases[:limit]
        return {
            "success": True,
            "leases": [lease.to_dict() for lease in shown],
            "count": len(shown),
            "has_more": len(leases) > limit,
            "now": self.now(),
        }

    async def check(
        self, identity: Identity, resources: list[str], mode: str = "exclusive"
    ) -> dict[str, Any]:
        cleaned = rules.check_resources(resources, self.settings)
        effective_mode = rules.check_mode(mode, None, self.settings)
        request = Request(identity.agent_id, effective_mode, None, cleaned)
        conflicts = find_conflicts(request, await self.live())
        return {
            "success": True,
            "conflicts": [conflict.to_dict() for conflict in conflicts],
            "free": not conflicts,
            "now": self.now(),
        }

    # -- expiry --------------------------------------------------------------------

    async def sweep_once(self) -> int:
        """Delete expired leases in batches (bounded per run); tell ``lease.expired``."""
        total = 0
        batch = self.settings.sweep_batch_size
        for _ in range(self.settings.sweep_max_batches):
            expired = await store.delete_expired(self.app.db, self.now(), batch)
            for lease in expired:
                await self.app.emit(EXPIRED, source=SOURCE, lease=lease.to_dict())
            total += len(expired)
            if len(expired) < batch:
                break
            await asyncio.sleep(0)  # let waiting requests take the write lock
        return total


@dataclass(frozen=True)
class _Grant:
    request: Request
    holder_type: str
    ttl_s: int
    reason: str | None
    session_id: str | None
