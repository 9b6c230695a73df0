"""The one timestamp format scs stores and shows, and parsing client date-times into it.

Stored form: UTC, microseconds, ``Z``, always a 4-digit year
(``2026-11-25T21:15:48.123456Z``). Fixed width, so text order is time order: SQL
``ORDER BY``, range comparisons and cursors rely on it. ``strftime("%Y")`` is not used
because glibc writes years before 1000 unpadded (``999-...``), which sorts wrongly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scs_server.errors import validation_error


def iso_timestamp(moment: datetime, *, micros: bool = True) -> str:
    """``moment`` in UTC as fixed-width ISO-8601 (naive datetimes are taken as UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    return f"{text}.{utc.microsecond:06d}Z" if micros else f"{text}Z"


def epoch_timestamp(epoch: float, *, micros: bool = True) -> str:
    """A Unix time (seconds) in the same form."""
    return iso_timestamp(datetime.fromtimestamp(epoch, UTC), micros=micros)


def utc_now() -> str:
    """The current time in the stored form."""
    return iso_timestamp(datetime.now(UTC))


def parse_iso(value: str, field: str) -> datetime:
    """A client's ISO-8601 date-time as an aware UTC datetime; no offset means UTC.

    Unparsable text and moments outside years 1..9999 once converted to UTC (such as
    ``0001-01-01T00:00:00+14:00``) are typed validation errors naming ``field``.
    """
    example = "use e.g. 2026-11-25T21:15:48Z or 2026-11-25T22:15:48+01:00"
    try:
        moment = datetime.fromisoformat(value.strip())
    except (ValueError, TypeError, AttributeError):
        raise validation_error(
            f"{field} {str(value)[:60]!r} is not an ISO-8601 date-time", example, field=field
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise validation_error(
            f"{field} {value[:60]!r} is outside years 1..9999 once converted to UTC",
            example,
            field=field,
        ) from None
