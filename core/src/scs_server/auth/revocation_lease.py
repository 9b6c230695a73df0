"""Revocation checks answered from memory on PostgreSQL, under a lease.

A call must be refused on every replica once its token's revocation has returned. A read
of ``scs_revoked_tokens`` per call does that (``scs_server.auth.revocations``), at the
price of a round trip and some hundreds of µs of CPU on every call. A replica holding a
lease answers from memory instead:

- It keeps every unexpired revocation in memory: read at start (after subscribing), then
  from the change feed (each revocation emits ``REVOKED_TOPIC`` in its transaction).
- Every ``lease_s / 4`` it renews its row in ``scs_replica_leases``: valid ``lease_s``
  by PostgreSQL's clock, with ``acked_seq``, the feed position up to which it has
  applied every change. Only once that row is committed does it read the feed's head.
- It answers from memory only while its feed listener is connected and caught up, its
  lease lasts by its own clock (counted from before the renewal was sent, less a
  margin), and it has applied the feed up to the head read after its last renewal: a
  revocation committed before that renewal is then in memory.
- It renews only while it keeps up (its position has reached the head read at the
  renewal before), so a replica whose listener stalls loses its lease within
  ``lease_s * 1.25``. It acknowledges each revocation as soon as it has applied it.
- A revocation returns once every replica holding a live lease has acknowledged it, or
  that lease has run out (``wait_until_applied``): a revocation committed after a
  replica's renewal is waited for; one committed before is in its memory.

Anything else (SQLite, a listener reconnecting, a gap in the feed, more than
``MAX_CACHED`` revocations, ``SCS_REVOCATION_LEASE_S=0``) answers with the read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from scs_server.auth import lease_store

if TYPE_CHECKING:
    from scs_server.storage import Database
    from scs_server.storage.api import Change, Subscription

log = logging.getLogger("scs.auth")

MAX_CACHED = 100_000
"""Unexpired revocations a replica keeps in memory; beyond it every call reads."""
FORGET_LAPSED_S = 3600.0  # rows of replicas gone this long are deleted
FORGET_EVERY = 120  # renewals between two clean-ups (expired revocations, gone replicas)
WAIT_POLL_S = 0.01  # how often a revocation looks for the replicas' acknowledgements
WAIT_LIMIT_S = 150.0
"""A revocation stops waiting after this (a fault): every lease ends within 1.25 x its
length, at most 60 s (``SCS_REVOCATION_LEASE_S``), whatever this replica's own setting."""


class RevocationLease:
    """The revocations this replica knows, trusted while its lease holds (module docstring)."""

    def __init__(self, db: Database, lease_s: float) -> None:
        self.db = db
        self.lease_s = lease_s
        self.renew_s = lease_s / 4
        self.margin_s = lease_s / 8
        self.revoked: dict[str, tuple[int, int]] = {}  # jti -> (revoked_at, expires_at)
        self.answered = 0  # checks answered from memory
        self.renewals = 0
        self._loaded = False
        self._loading = False
        self._gaps = 0  # gaps seen: a read begun before the last one is not enough
        self._trusted_until = 0.0  # time.monotonic() at which the lease ends here
        self._head = 0  # the feed's head read after the last renewal
        self._subscription: Subscription | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._reloading: asyncio.Task[None] | None = None
        self._acking: asyncio.Task[None] | None = None
        self._ack_wanted = False

    async def start(self) -> None:
        """Subscribe, read what is revoked, take the first lease, keep renewing it."""
        self._subscription = await self.db.changes.subscribe(
            self._on_change, (lease_store.REVOKED_TOPIC,)
        )
        if not await self._load():
            self._reload_soon()
        with contextlib.suppress(Exception):  # unreachable: the renewals retry
            await self._renew()
        self._renewing = asyncio.get_running_loop().create_task(self._renew_forever())

    async def stop(self) -> None:
        self._trusted_until = 0.0
        for task in (self._renewing, self._reloading, self._acking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._subscription is not None:
            self._subscription.close()
        with contextlib.suppress(Exception):  # revocations need not wait for it to lapse
            await lease_store.release(self.db, self.db.origin)

    def trusted(self) -> bool:
        """Whether memory answers a check now."""
        feed = self.db.changes
        return (
            self._loaded
            and time.monotonic() < self._trusted_until
            and feed.live
            and feed.position >= self._head
        )

    def answer(self, jti: str) -> bool | None:
        """Whether ``jti`` is refused, from memory; None when memory may not answer now."""
        if not self.trusted():
            return None
        self.answered += 1
        entry = self.revoked.get(jti)
        return entry is not None and entry[0] <= int(time.time())

    # -- what is revoked ------------------------------------------------------
    async def _load(self) -> bool:
        """Read every unexpired revocation; False when a gap came meanwhile (read again)."""
        gaps = self._gaps
        self._loading = True  # changes arriving meanwhile are remembered too
        try:
            rows = await lease_store.unexpired_revocations(self.db, MAX_CACHED + 1)
        finally:
            self._loading = False
        if len(rows) > MAX_CACHED:
            self._too_many()
            return True
        for jti, revoked_at, expires_at in rows:
            self._remember(jti, revoked_at, expires_at)
        if gaps != self._gaps:  # the read may predate changes the gap says were missed
            return False
        self._loaded = True
        return True

    def _remember(self, jti: str, revoked_at: int, expires_at: int) -> None:
        known = self.revoked.get(jti)
        if known is not None:
            revoked_at = min(revoked_at, known[0])
        self.revoked[jti] = (revoked_at, expires_at)

    def _on_change(self, change: Change) -> None:
        if change.gap:  # revocations may have been missed: read them all again
            self._gaps += 1
            self._loaded = False
            self._reload_soon()
            return
        try:
            payload = change.payload
            jti, revoked_at = str(payload["jti"]), int(payload["revoked_at"])
            expires_at = int(payload["expires_at"])
        except (TypeError, KeyError, ValueError):  # not understood: read them all again
            log.warning("a revocation change without jti/revoked_at/expires_at: %r", change)
            self._loaded = False
            self._reload_soon()
        else:
            if self._loaded or self._loading:  # else memory is unused (too many)
                self._remember(jti, revoked_at, expires_at)
            if len(self.revoked) > MAX_CACHED:
                self._too_many()
        self._ack_soon()

    def _too_many(self) -> None:
        log.warning(
            "more than %d unexpired revocations to keep in memory; every call reads", MAX_CACHED
        )
        self._loaded = False
        self.revoked.clear()

    def _reload_soon(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        for _ in range(100):  # bounded: afterwards every call reads until the next gap
            try:
                if await self._load():
                    return
            except Exception:
                await asyncio.sleep(self.renew_s)

    def _forget_expired(self) -> None:
        now = int(time.time())
        for jti in [jti for jti, (_, expires) in self.revoked.items() if expires < now - 60]:
            del self.revoked[jti]  # an expired token is refused before its revocation is asked

    # -- the lease --------------------------------------------------------------
    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self._renew()
            except Exception:  # unreachable: the lease runs out, calls read
                log.debug("renewing the revocation lease failed; retrying", exc_info=True)

    async def _renew(self) -> None:
        feed = self.db.changes
        if not feed.live or feed.position < self._head:
            return  # not keeping up with the feed: let the lease run out
        sent = time.monotonic()
        await lease_store.renew(self.db, self.db.origin, feed.position, self.lease_s)
        # read only after the lease is committed: a revocation that commits later finds
        # this lease and waits for it; one committed earlier is at or before this head
        self._head = await lease_store.feed_head(self.db)
        self._trusted_until = sent + self.lease_s - self.margin_s
        self.renewals += 1
        if self.renewals % FORGET_EVERY == 0:
            self._forget_expired()
            await lease_store.forget_lapsed(self.db, FORGET_LAPSED_S)

    def _ack_soon(self) -> None:
        self._ack_wanted = True
        if self._acking is None or self._acking.done():
            self._acking = asyncio.get_running_loop().create_task(self._ack())

    async def _ack(self) -> None:
        """Acknowledge the position, again if a revocation arrived while sending it.

        Another replica's change is delivered once the position has passed it, so the
        position sent covers it. This replica's own revocations are delivered at their
        commit, maybe before the listener reaches them; their revoker does not wait for
        its own acknowledgement (``wait_until_applied``)."""
        while self._ack_wanted:
            self._ack_wanted = False
            try:
                await lease_store.ack(self.db, self.db.origin, self.db.changes.position)
            except Exception:  # the next renewal acknowledges it, or the lease runs out
                log.debug("acknowledging a revocation failed", exc_info=True)
                return


async def wait_until_applied(db: Database) -> None:
    """After a revocation committed through ``db``: return once every other replica
    holding a live lease has applied the newest revocation, or its lease has run out
    (PostgreSQL; nothing to wait for elsewhere). This process applied its own at commit.
    Waited for whatever this process's own lease setting: other replicas' may differ."""
    if db.dialect != "postgresql":
        return
    seq = await lease_store.last_revocation_seq(db)
    deadline = time.monotonic() + WAIT_LIMIT_S
    while await lease_store.leases_behind(db, seq, db.origin):
        if time.monotonic() > deadline:
            log.error("replicas still hold leases without revocation %d; not waiting longer", seq)
            return
        await asyncio.sleep(WAIT_POLL_S)
