"""Files the archive plugin writes (archives, signatures, keys): mode 0600 whatever
the umask, because they hold every message of the database or a signing key.

``os.open``'s mode is filtered by the umask, so every file is also ``fchmod``-ed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator

MODE = 0o600


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all: a 0600 scratch file next to it, renamed over
    ``path`` when the block ends without an error (removed otherwise, ``path`` untouched)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    scratch = Path(name)
    try:
        os.fchmod(fd, MODE)
        with os.fdopen(fd, "wb") as stream:
            yield stream
        scratch.replace(path)
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise


def create_new(path: Path, data: bytes) -> None:
    """Create ``path`` (refused with ``FileExistsError`` if it exists) holding ``data``."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, MODE)
    with os.fdopen(fd, "wb") as stream:
        os.fchmod(stream.fileno(), MODE)
        stream.write(data)
