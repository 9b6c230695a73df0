"""Files that hold secrets or private data: folders 0700 from the moment they exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by its owner only.

    A folder that already exists is left as it is (its owner chose its mode). A new
    one is chmod-ed as well, because ``mkdir``'s mode is filtered by the umask.
    """
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
