"""Which live leases a request conflicts with (pure: no database, no clock).

Rules, for a requested resource R and a live lease L holding a pattern that overlaps R
(``globs.overlaps``):

- **exclusive**: an exclusive request conflicts with every overlapping lease of another
  holder; any request conflicts with an overlapping exclusive lease of another holder.
  Leases of the same agent never exclude each other (an agent may re-acquire what it holds).
- **shared**: shared leases coexist.
- **capacity** (a counting semaphore, e.g. ``build-slot`` with capacity 2): a shared
  request is refused when the overlapping shared leases, of every holder (a slot is a
  slot), already number the smallest capacity among the request's and theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scs_leases.globs import literal_head, overlaps

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scs_leases.store import Lease


@dataclass(frozen=True)
class Request:
    holder: str
    mode: str
    capacity: int | None
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Conflict:
    """A lease in the way and the requested resources it blocks."""

    lease: Lease
    resources: tuple[str, ...]
    why: str

    def to_dict(self) -> dict[str, object]:
        lease = self.lease
        return {
            "lease_id": lease.id,
            "holder": lease.holder,
            "resources": list(lease.resources),
            "requested": list(self.resources),
            "mode": lease.mode,
            "capacity": lease.capacity,
            "expires_at": lease.expires_at,
            "reason": lease.reason,
            "session_id": lease.session_id,
            "why": self.why,
        }


def _overlapping(resource: str, lease: Lease) -> bool:
    return any(overlaps(resource, held) for held in lease.resources)


def _by_head(live: Sequence[Lease]) -> tuple[dict[str, set[str]], set[str]]:
    """Lease ids by the literal first segment of their patterns, and those with a
    pattern starting with a wildcard. Patterns with different literal first segments
    never overlap, so a resource is compared only with its bucket and the wild ones."""
    heads: dict[str, set[str]] = {}
    wild: set[str] = set()
    for lease in live:
        for pattern in lease.resources:
            head = literal_head(pattern)
            if head is None:
                wild.add(lease.id)
            else:
                heads.setdefault(head, set()).add(lease.id)
    return heads, wild


def find_conflicts(request: Request, live: Sequence[Lease]) -> list[Conflict]:
    """Every live lease that keeps ``request`` from being granted, with why."""
    blocked: dict[str, tuple[list[str], str]] = {}
    by_id = {lease.id: lease for lease in live}
    heads, wild = _by_head(live)

    def block(lease: Lease, resource: str, why: str) -> None:
        resources, _ = blocked.setdefault(lease.id, ([], why))
        if resource not in resources:
            resources.append(resource)

    for resource in request.resources:
        head = literal_head(resource)
        candidates = None if head is None else heads.get(head, set()) | wild
        sharing: list[Lease] = []
        for lease in live:
            if candidates is not None and lease.id not in candidates:
                continue
            if not _overlapping(resource, lease):
                continue
            other = lease.holder != request.holder
            if other and (request.mode == "exclusive" or lease.mode == "exclusive"):
                block(lease, resource, "exclusive")
            elif request.mode == "shared" and lease.mode == "shared":
                sharing.append(lease)
        limits = [lease.capacity for lease in sharing if lease.capacity is not None]
        if request.capacity is not None:
            limits.append(request.capacity)
        if limits and len(sharing) >= min(limits):
            for lease in sharing:
                block(lease, resource, "capacity")
    return [
        Conflict(by_id[lease_id], tuple(resources), why)
        for lease_id, (resources, why) in blocked.items()
    ]
