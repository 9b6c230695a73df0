"""The archive format: NDJSON, one JSON object a line, UTF-8.

Line 1 is the header (``kind`` ``header``: ``format``, ``scs_version``, ``origin``,
``exported_at``, ``counts`` per kind and ``records``, the number of lines after it).
Then documents: a ``session`` record followed by that session's records (messages,
session memory...), and finally one ``global`` line followed by the records outside any
session (global memory, audit). An import refuses a file whose lines do not match the
header's counts (truncated or padded) and a ``format`` newer than it knows.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from scs_server.archiving import record_error
from scs_server.errors import validation_error

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from scs_server.archiving import Record

FORMAT_VERSION = 1
HEADER = "header"
GLOBAL = "global"
SESSION = "session"
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(record: Record) -> bytes:
    """One line of the file (compact JSON, UTF-8, a trailing newline)."""
    return (_ENCODER.encode(record) + "\n").encode("utf-8", "surrogatepass")


def check_header(header: Any) -> dict[str, Any]:
    """The header, refused clearly when it is not one or is from a newer format."""
    if not isinstance(header, dict) or header.get("kind") != HEADER:
        raise record_error(1, "not an scs archive (the first line is no header)")
    version = header.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise record_error(1, "header.format is missing")
    if version > FORMAT_VERSION:
        raise validation_error(
            f"archive format {version} is newer than this scs understands ({FORMAT_VERSION})",
            f"upgrade scs (the file says it was written by scs {header.get('scs_version')})",
        )
    counts = header.get("counts")
    records = header.get("records")
    if not isinstance(counts, dict) or not isinstance(records, int):
        raise record_error(1, "header.counts or header.records is missing")
    return header


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, Record]]:
    """(line number, record) for every line, the header included; a line that is not a
    JSON object with a string ``kind`` is refused with its number."""
    for number, raw in enumerate(stream, start=1):
        if not raw.endswith(b"\n"):
            raise record_error(number, "the line is cut short (the file is truncated)")
        try:
            record = json.loads(raw.decode("utf-8", "surrogatepass"))
        except (UnicodeDecodeError, ValueError) as error:
            raise record_error(number, f"not valid JSON ({error})") from None
        if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
            raise record_error(number, "a record must be a JSON object with a 'kind'")
        yield number, record
