"""The typed errors of the data API, the same on every engine."""

from __future__ import annotations

from typing import Literal

from scs_server.errors import ErrorCode, ScsError

ConstraintKind = Literal["unique", "foreign_key", "not_null", "check", "other"]


class IntegrityError(ScsError):
    """A constraint refused the statement (nothing of it was written).

    Catch it portably, e.g. ``except IntegrityError as e: if e.kind == "unique": ...``.
    Uncaught, it reaches the client as ``CONFLICT``.
    """

    def __init__(self, kind: ConstraintKind, cause: BaseException) -> None:
        self.kind: ConstraintKind = kind
        super().__init__(
            ErrorCode.CONFLICT,
            f"the change conflicts with existing data ({kind.replace('_', ' ')} constraint)",
            "check the values; nothing was written",
            cause=str(cause),
        )


def busy_error(cause: BaseException | None = None) -> ScsError:
    return ScsError(
        ErrorCode.DATABASE_BUSY,
        "the database is busy (locked by another writer)",
        "retry in a moment; nothing was written",
        retryable=True,
        retry_after=1,
        cause=str(cause) if cause else None,
    )


def unavailable_error(cause: BaseException | None = None) -> ScsError:
    return ScsError(
        ErrorCode.DATABASE_UNAVAILABLE,
        "the database cannot be reached",
        "retry in a few seconds; the server reconnects by itself",
        retryable=True,
        retry_after=2,
        cause=str(cause) if cause else None,
    )


def constraint_kind(message: str) -> ConstraintKind:
    """The kind of constraint named in an engine's error text."""
    text = message.lower()
    if "unique" in text or "duplicate key" in text:
        return "unique"
    if "foreign key" in text:
        return "foreign_key"
    if "not null" in text or "null value" in text:
        return "not_null"
    if "check constraint" in text:
        return "check"
    return "other"
