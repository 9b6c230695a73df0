"""shared-context-server core: the plugin host every scs feature plugs into.

The public names below are imported on first use: ``scs --help`` and ``scs version``
must not pay for FastMCP, and ``from scs import hookimpl`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs.errors import ErrorCode, ScsError
    from scs.hookspecs import hookimpl
    from scs.identity import Identity, current_identity, require_identity
    from scs.migrations import Migration
    from scs.tools import requires

    __version__: str

_EXPORTS = {
    "ErrorCode": "scs.errors",
    "ScsError": "scs.errors",
    "hookimpl": "scs.hookspecs",
    "Identity": "scs.identity",
    "current_identity": "scs.identity",
    "require_identity": "scs.identity",
    "Migration": "scs.migrations",
    "requires": "scs.tools",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scs-core")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'scs' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "ErrorCode",
    "Identity",
    "Migration",
    "ScsError",
    "__version__",
    "current_identity",
    "hookimpl",
    "require_identity",
    "requires",
]
