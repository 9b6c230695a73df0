"""What the memory tools do: ownership, scopes, expiry, versions and limits.

Every entry belongs to the agent of the verified token; the agent id is never
taken from an argument. An expired row is treated as absent by every path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server import ErrorCode, Identity, ScsError
from scs_server.errors import validation_error
from scs_server.events import MEMORY_DELETED, MEMORY_SET
from scs_server.jsonvalues import check_json, check_json_object, decode_stored
from scs_server.paging import decode_cursor, encode_cursor
from scs_server.timestamps import iso_timestamp, utc_now
from scs_sessions.api import session_state

from scs_memory import rules, store

if TYPE_CHECKING:
    from scs_server.app import App
    from scs_server.storage import Dialect, Executor, Transaction

    from scs_memory.settings import MemorySettings

SOURCE = "memory"


def scope_name(session_id: str | None, owner: str | None = None) -> str:
    if owner is not None and rules.is_shared_owner(owner):
        return rules.SHARED
    return "session" if session_id else "global"


def owner_of(identity: Identity) -> str:
    """The agent whose memory a call uses; the anonymous reader has none."""
    if identity.anonymous:
        raise ScsError(
            ErrorCode.AUTH_REQUIRED,
            "memory belongs to an authenticated agent",
            "call authenticate_agent and pass its token",
        )
    return identity.agent_id


def owner_for(identity: Identity, scope: str, session_id: str | None, *, writing: bool) -> str:
    """Whose rows a call uses: the caller's (``private``) or session ``session_id``'s
    shared memory (``shared``: read with read permission, written with write; the tool
    tags check those before this runs)."""
    if scope == rules.PRIVATE:
        return owner_of(identity)
    if scope != rules.SHARED:
        raise validation_error(f"scope must be 'private' or 'shared' (got {scope!r})")
    if session_id is None:
        raise validation_error(
            "scope='shared' needs a session_id",
            "pass the session whose shared memory you mean (create_session returns one)",
        )
    if writing:
        owner_of(identity)  # the anonymous reader never writes
    return rules.shared_owner(session_id)


def _not_found(key: str, session_id: str | None, owner: str | None = None) -> ScsError:
    where = f"session {session_id}" if session_id else "global memory"
    if owner is not None and rules.is_shared_owner(owner):
        where = f"session {session_id}'s shared memory"
    return ScsError(
        ErrorCode.MEMORY_NOT_FOUND,
        f"no memory entry {key!r} in your {where}",
        "it may have expired; list_memory shows your keys",
        key=key,
        session_id=session_id,
    )


def _unknown_session(session_id: str) -> ScsError:
    return ScsError(
        ErrorCode.NOT_FOUND,
        f"session {session_id} not found",
        "pass a session_id from create_session, or omit it for global memory",
    )


def _conflict(key: str, current: int, expected: int | None) -> ScsError:
    return ScsError(
        ErrorCode.CONFLICT,
        f"memory entry {key!r} is at version {current}, not {expected}",
        "read it again, apply your change to what you read, and retry with the new version",
        key=key,
        current_version=current,
    )


async def _check_open_session(r: Executor, session_id: str) -> None:
    state = await session_state(r, session_id)
    if state == "missing":
        raise _unknown_session(session_id)
    if state == "closed":
        raise ScsError(
            ErrorCode.SESSION_CLOSED,
            f"session {session_id} is closed; its memory is read-only",
            "store it in your global memory or in an open session",
        )


async def _delete_entry(
    tx: Transaction,
    dialect: Dialect,
    agent_id: str,
    session_id: str | None,
    key: str,
    moment: str,
    if_version: int | None,
) -> int:
    """The transaction of ``delete`` (run by ``Database.write``); the deleted version."""
    await store.lock_agent(tx, dialect, agent_id)
    row = await store.find(tx, agent_id, session_id or "", key)
    if row is None or not row.live_at(moment):
        if session_id is not None and await session_state(tx, session_id) == "missing":
            raise _unknown_session(session_id)
        # An expired row is absent already: nothing to report, leave it to the sweep.
        raise _not_found(key, session_id, agent_id)
    if if_version is not None and if_version != row.version:
        raise _conflict(key, row.version, if_version)
    await store.delete(tx, row.id)
    tx.emit(store.TOPIC, {"agent_id": agent_id})
    return row.version


def _listed(item: store.Listed, owner: str) -> dict[str, Any]:
    return {
        "key": item.key,
        "scope": scope_name(item.session_id, owner),
        "session_id": item.session_id,
        "size": item.size,
        "value_size": item.size,  # the 1.x name
        "version": item.version,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "expires_at": item.expires_at,
    }


def _full(entry: store.Entry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "value": decode_stored(entry.value, "value"),
        "metadata": None if entry.metadata is None else decode_stored(entry.metadata, "metadata"),
        "scope": scope_name(entry.session_id, entry.agent_id),
        "session_id": entry.session_id,
        "version": entry.version,
        "size": entry.size,
        "created_at": entry.created_at,
        "updated_at": entry.updated_at,
        "expires_at": entry.expires_at,
    }


@dataclass
class MemoryService:
    """The memory plugin's operations, shared by its tools and its resource."""

    app: App
    settings: MemorySettings

    async def _write_entry(
        self,
        tx: Transaction,
        /,
        *,
        writer: str,
        scope: str,
        agent_id: str,
        key: str,
        session_id: str | None,
        **entry: Any,
    ) -> int:
        """The transaction of ``set``: store the entry, announce ``memory.set`` on commit
        (``agent_id`` there is the writer; ``scope`` says whose memory it is)."""
        version = await self._store_entry(
            tx, agent_id=agent_id, key=key, session_id=session_id, **entry
        )
        self.app.announce(
            tx,
            MEMORY_SET,
            SOURCE,
            agent_id=writer,
            key=key,
            session_id=session_id,
            version=version,
            scope=scope,
        )
        return version

    async def _store_entry(
        self,
        tx: Transaction,
        *,
        agent_id: str,
        session_id: str | None,
        key: str,
        value: str,
        metadata: str | None,
        size: int,
        moment: str,
        expires_at: str | None,
        overwrite: bool,
        if_version: int | None,
    ) -> int:
        """The transaction of ``set`` (run by ``Database.write``); the new version.

        Raising rolls it back, so a refused call writes nothing.
        """
        await store.lock_agent(tx, self.app.db.dialect, agent_id)
        if session_id is not None:
            await _check_open_session(tx, session_id)
        row = await store.find(tx, agent_id, session_id or "", key)
        live = row if row is not None and row.live_at(moment) else None
        current = live.version if live else 0
        if live is not None and not overwrite:
            raise ScsError(
                ErrorCode.KEY_EXISTS,
                f"memory entry {key!r} exists and overwrite is false",
                "pass overwrite=true, or if_version to update it safely",
                key=key,
                current_version=current,
            )
        if if_version is not None and if_version != current:
            raise _conflict(key, current, if_version)
        await self._check_quota(
            tx, agent_id, moment, new=live is None, size=size - (live.size if live else 0)
        )
        if live is not None:
            updated = await store.update(
                tx,
                live.id,
                expected_version=live.version,
                value=value,
                metadata=metadata,
                size=size,
                moment=moment,
                expires_at=expires_at,
            )
            if not updated:  # another writer got there first (see store.update)
                now_row = await store.find(tx, agent_id, session_id or "", key)
                raise _conflict(key, now_row.version if now_row else 0, live.version)
            tx.emit(store.TOPIC, {"agent_id": agent_id})
            return live.version + 1
        if row is not None:  # expired: gone for every purpose, start afresh
            await store.delete(tx, row.id)
        await store.insert(
            tx,
            agent_id=agent_id,
            session_id=session_id,
            key=key,
            value=value,
            metadata=metadata,
            size=size,
            moment=moment,
            expires_at=expires_at,
        )
        tx.emit(store.TOPIC, {"agent_id": agent_id})
        return 1

    async def _check_quota(
        self, tx: Transaction, agent_id: str, moment: str, *, new: bool, size: int
    ) -> None:
        """Refuse a write that would take the agent past its entry count or byte quota
        (``size`` is the growth in bytes). Runs inside the write transaction."""
        if not new and size <= 0:  # an overwrite that does not grow needs no count
            return
        held, held_bytes = await store.usage_live(tx, agent_id, moment)
        limit = self.settings.max_entries_per_agent
        if new and held >= limit:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"you hold {held} memory entries; the limit is {limit}",
                "delete entries you no longer need (delete_memory), or let "
                "them expire (expires_in)",
                limit=limit,
                count=held,
            )
        quota = self.settings.max_bytes_per_agent
        if size > 0 and held_bytes + size > quota:
            raise ScsError(
                ErrorCode.LIMIT_EXCEEDED,
                f"you hold {held_bytes} bytes of memory values; this write would take you "
                f"past the quota of {quota} bytes",
                "delete entries you no longer need (delete_memory), store smaller values, "
                "or let entries expire (expires_in)",
                limit_bytes=quota,
                bytes=held_bytes,
            )

    async def set(
        self,
        identity: Identity,
        key: str,
        value: Any,
        *,
        session_id: str | None = None,
        expires_in: int | None = None,
        metadata: Any = None,
        overwrite: bool = True,
        if_version: int | None = None,
        scope: str = rules.PRIVATE,
    ) -> dict[str, Any]:
        session_id = rules.check_session_id(session_id)
        agent_id = owner_for(identity, scope, session_id, writing=True)
        key = rules.check_key(key)
        value_text, size = check_json(value, "value", max_bytes=self.settings.max_value_bytes)
        metadata_text = check_json_object(
            metadata, "metadata", max_bytes=self.settings.max_metadata_bytes
        )
        if if_version is not None and if_version < 0:
            raise validation_error(
                "if_version must be 0 (the key must not exist) or a stored version",
                "read the entry with get_memory to learn its version",
            )
        moment_dt = rules.now()
        moment = iso_timestamp(moment_dt)
        expires_at = rules.expiry(moment_dt, expires_in)

        version = await self.app.db.write(
            self._write_entry,
            writer=identity.agent_id,
            scope=scope,
            agent_id=agent_id,
            session_id=session_id,
            key=key,
            value=value_text,
            metadata=metadata_text,
            size=size,
            moment=moment,
            expires_at=expires_at,
            overwrite=overwrite,
            if_version=if_version,
        )
        return {
            "success": True,
            "key": key,
            "scope": scope_name(session_id, agent_id),
            "session_id": session_id,
            "session_scoped": session_id is not None,  # the 1.x name
            "version": version,
            "created": version == 1,
            "size": size,
            "expires_at": expires_at,
            "stored_at": moment,
        }

    async def get(
        self,
        identity: Identity,
        key: str,
        session_id: str | None = None,
        scope: str = rules.PRIVATE,
    ) -> dict[str, Any]:
        session_id = rules.check_session_id(session_id)
        agent_id = owner_for(identity, scope, session_id, writing=False)
        key = rules.check_key(key)
        moment = utc_now()
        db = self.app.db
        entry = await db.lookup(store.get_live, agent_id, session_id or "", key, moment)
        if entry is None:
            if session_id is not None and await db.lookup(session_state, session_id) == "missing":
                raise _unknown_session(session_id)
            raise _not_found(key, session_id, agent_id)
        return {"success": True, **_full(entry)}

    async def delete(
        self,
        identity: Identity,
        key: str,
        session_id: str | None = None,
        if_version: int | None = None,
        scope: str = rules.PRIVATE,
    ) -> dict[str, Any]:
        session_id = rules.check_session_id(session_id)
        agent_id = owner_for(identity, scope, session_id, writing=True)
        key = rules.check_key(key)
        moment = utc_now()
        dialect = self.app.db.dialect

        async def delete(tx: Transaction) -> int:
            version = await _delete_entry(
                tx, dialect, agent_id, session_id, key, moment, if_version
            )
            self.app.announce(
                tx,
                MEMORY_DELETED,
                SOURCE,
                agent_id=identity.agent_id,
                key=key,
                session_id=session_id,
                scope=scope,
            )
            return version

        version = await self.app.db.write(delete)
        return {
            "success": True,
            "deleted": True,
            "key": key,
            "scope": scope_name(session_id, agent_id),
            "session_id": session_id,
            "version": version,
        }

    async def list(
        self,
        identity: Identity,
        session_id: str | None = None,
        prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        scope_kind: str = rules.PRIVATE,
    ) -> dict[str, Any]:
        every = session_id == rules.ALL_SCOPES
        if every and scope_kind == rules.SHARED:
            raise validation_error(
                "scope='shared' lists one session's shared memory, not 'all'",
                "pass the session_id whose shared memory you want",
            )
        agent_id = owner_for(
            identity,
            scope_kind,
            None if every else rules.check_session_id(session_id),
            writing=False,
        )
        prefix = rules.check_prefix(prefix)
        after: tuple[str, str] | None = None
        if cursor:
            after_scope, after_key = decode_cursor(cursor, 2, "list_memory")
            after = (after_scope, after_key)
        scope: str | None = None
        if not every:
            session_id = rules.check_session_id(session_id)
            scope = session_id or ""
            if (
                session_id is not None
                and await self.app.db.lookup(session_state, session_id) == "missing"
            ):
                raise _unknown_session(session_id)
        moment = utc_now()
        rows = await store.list_live(
            self.app.db,
            agent_id,
            moment,
            scope=scope,
            prefix=prefix,
            upper=None if prefix is None else rules.prefix_upper_bound(prefix),
            after=after,
            limit=limit + 1,
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].scope, rows[-1].key) if has_more else None
        return {
            "success": True,
            "entries": [_listed(row, agent_id) for row in rows],
            "count": len(rows),
            "has_more": has_more,
            "next_cursor": next_cursor,
            "scope_filter": rules.ALL_SCOPES if every else (session_id or "global"),
        }

    async def snapshot(self, identity: Identity, agent_id: str) -> dict[str, Any]:
        """The whole live memory of ``agent_id``, for that agent or an admin."""
        if not rules.may_read_memory_of(identity, agent_id):
            raise ScsError(
                ErrorCode.AUTH_FORBIDDEN,
                "an agent's memory is readable only by that agent or an admin",
                f"read agent://{identity.agent_id}/memory for your own",
            )
        moment = utc_now()
        entries = await store.all_live(self.app.db, agent_id, moment)
        budget = self.settings.resource_max_bytes
        memory: dict[str, Any] = {"global": {}, "sessions": {}}
        omitted = 0
        for entry in entries:
            item = _full(entry)
            for name in ("key", "scope", "session_id"):
                del item[name]
            if entry.size > budget:
                item["value"] = None
                item["value_omitted"] = True
                omitted += 1
            else:
                budget -= entry.size
            if entry.session_id is None:
                memory["global"][entry.key] = item
            else:
                memory["sessions"].setdefault(entry.session_id, {})[entry.key] = item
        return {
            "agent_id": agent_id,
            "memory": memory,
            "statistics": {
                "global_keys": len(memory["global"]),
                "session_scopes": len(memory["sessions"]),
                "total_entries": len(entries),
                "values_omitted": omitted,
            },
            "resource_info": {
                "last_updated": moment,
                "value_budget_bytes": self.settings.resource_max_bytes,
            },
        }
