"""Input rules of the lease tools: resources, TTLs, waits, modes.

Pure: each check returns the cleaned input or raises a typed ``ScsError`` before
anything is written.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from scs_server import ErrorCode, ScsError
from scs_server.errors import validation_error
from scs_server.validation import check_unicode

from scs_leases.globs import GLOBSTAR, SEPARATOR, shape

if TYPE_CHECKING:
    from collections.abc import Sequence

    from scs_leases.settings import LeasesSettings

MODES = ("exclusive", "shared")
MAX_LEASE_ID_CHARS = 64
MAX_SESSION_ID_CHARS = 200


def _too_large(message: str, hint: str, **details: object) -> ScsError:
    return ScsError(ErrorCode.VALIDATION_TOO_LARGE, message, hint, **details)


def check_pattern(pattern: str, settings: LeasesSettings) -> str:
    """One resource: a relative path or glob within the configured complexity."""
    if not isinstance(pattern, str) or not pattern:
        raise validation_error("a resource must be a non-empty string", "e.g. 'src/app.py'")
    if len(pattern) > settings.max_path_chars:
        raise _too_large(
            f"a resource is {len(pattern)} characters long; the limit is {settings.max_path_chars}",
            "lease a directory pattern (e.g. 'src/**') instead of a very long path",
            limit=settings.max_path_chars,
        )
    cleaned = pattern[2:] if pattern.startswith("./") else pattern
    for char in cleaned:
        if unicodedata.category(char) in ("Cc", "Cs") or char == "\\":
            raise validation_error(
                f"resource {pattern[:80]!r} contains a control character or backslash",
                "use '/'-separated relative paths",
            )
    segments = cleaned.split(SEPARATOR)
    if cleaned.startswith(SEPARATOR) or any(s in ("", ".", "..") for s in segments):
        raise validation_error(
            f"resource {pattern[:80]!r} is not a clean relative path",
            "no leading '/', no empty, '.' or '..' segments: e.g. 'src/app.py', 'lib/**'",
        )
    measured = shape(cleaned)
    if measured.segments > settings.max_segments:
        raise _too_large(
            f"resource {pattern[:80]!r} has {measured.segments} segments; the limit is "
            f"{settings.max_segments}",
            "lease a shorter pattern",
        )
    if measured.globstars > settings.max_globstars:
        raise validation_error(
            f"resource {pattern[:80]!r} has {measured.globstars} '{GLOBSTAR}' segments; "
            f"the limit is {settings.max_globstars}",
            "one '**' already matches any number of directories",
        )
    if measured.wildcards > settings.max_wildcards:
        raise validation_error(
            f"resource {pattern[:80]!r} has {measured.wildcards} wildcards; the limit is "
            f"{settings.max_wildcards}",
            "use a simpler pattern",
        )
    return cleaned


def check_resources(resources: Sequence[str], settings: LeasesSettings) -> tuple[str, ...]:
    """The requested resources, deduplicated in order."""
    if not resources:
        raise validation_error("resources must not be empty", "e.g. ['src/app.py', 'lib/**']")
    if len(resources) > settings.max_resources:
        raise _too_large(
            f"{len(resources)} resources in one request; the limit is {settings.max_resources}",
            "lease a directory pattern (e.g. 'src/**') instead of many files",
            limit=settings.max_resources,
        )
    cleaned = [check_pattern(resource, settings) for resource in resources]
    return tuple(dict.fromkeys(cleaned))


def check_ttl(ttl_s: int, settings: LeasesSettings) -> int:
    if not settings.min_ttl_s <= ttl_s <= settings.max_ttl_s:
        raise validation_error(
            f"ttl_s must be between {settings.min_ttl_s} and {settings.max_ttl_s} seconds "
            f"(got {ttl_s})",
            "hold a lease for as long as one step of work and renew it while you work",
        )
    return ttl_s


def check_wait(wait_s: float, settings: LeasesSettings) -> float:
    if not 0 <= wait_s <= settings.max_wait_s:
        raise validation_error(
            f"wait_s must be between 0 and {settings.max_wait_s:g} seconds (got {wait_s})",
            "0 = do not wait; retry later for longer waits",
        )
    return wait_s


def check_mode(mode: str, capacity: int | None, settings: LeasesSettings) -> str:
    """The effective mode: ``capacity`` makes a lease a shared slot of a semaphore."""
    if mode not in MODES:
        raise validation_error(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if capacity is None:
        return mode
    if not 1 <= capacity <= settings.max_capacity:
        raise validation_error(
            f"capacity must be between 1 and {settings.max_capacity} (got {capacity})",
            "capacity=N lets at most N holders share the resource",
        )
    return "shared"


def check_reason(reason: str | None, settings: LeasesSettings) -> str | None:
    if reason is None or reason == "":
        return None
    check_unicode(reason, "reason")
    if len(reason) > settings.max_reason_chars:
        raise _too_large(
            f"reason is {len(reason)} characters long; the limit is {settings.max_reason_chars}",
            "say in a sentence what you are doing",
        )
    return reason


def check_session_label(session_id: str | None) -> str | None:
    """The session a lease is grouped under: a label, not checked against sessions."""
    if not session_id:
        return None
    check_unicode(session_id, "session_id")
    if len(session_id) > MAX_SESSION_ID_CHARS:
        raise validation_error(
            f"session_id is {len(session_id)} characters long; the limit is {MAX_SESSION_ID_CHARS}",
            "pass the session_id returned by create_session",
        )
    return session_id


def check_lease_id(lease_id: str) -> str:
    check_unicode(lease_id, "lease_id")
    if not lease_id or len(lease_id) > MAX_LEASE_ID_CHARS:
        raise ScsError(
            ErrorCode.NOT_FOUND,
            f"lease {lease_id[:80]!r} not found",
            "pass the lease_id returned by acquire_lease",
        )
    return lease_id
