"""The public API of the leases plugin, for other plugins (``/events``, inbox, dashboard).

Only this module is a contract; everything else in ``scs_leases`` is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scs_leases.globs import matches, overlaps
from scs_leases.service import ACQUIRED, EXPIRED, RELEASED, LeaseService
from scs_leases.store import TOPIC

if TYPE_CHECKING:
    from scs_server import Identity
    from scs_server.app import App

EVENTS: tuple[str, ...] = (ACQUIRED, RELEASED, EXPIRED)
"""Event names (``scs_event``); ``event.data["lease"]`` is a lease dict as below, and
``lease.released`` adds ``by`` and ``forced``."""
CHANGE_TOPIC = TOPIC


async def active_leases(app: App) -> list[dict[str, Any]]:
    """Every live lease as a dict: lease_id, holder, holder_type, session_id, mode,
    capacity, reason, resources, fencing_token, acquired_at, renewed_at, expires_at."""
    service = app.services.get(LeaseService, needed_by="a user of scs_leases.api")
    return [lease.to_dict() for lease in await service.live()]


async def force_release(app: App, identity: Identity, lease_id: str) -> dict[str, Any]:
    """What ``force_release_lease`` does (release anyone's lease, audited as
    ``lease.force_release``); the caller checks that ``identity`` is an admin (the tool's
    permission), e.g. through ``app.calls.as_tool``."""
    service = app.services.get(LeaseService, needed_by="a user of scs_leases.api")
    return await service.force_release(identity, lease_id)


__all__ = [
    "ACQUIRED",
    "CHANGE_TOPIC",
    "EVENTS",
    "EXPIRED",
    "LeaseService",
    "RELEASED",
    "active_leases",
    "force_release",
    "matches",
    "overlaps",
]
