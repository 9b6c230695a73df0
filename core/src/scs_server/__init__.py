"""shared-context-server core: the plugin host every scs feature plugs into.

The public names below are imported on first use: ``scs --help`` and ``scs version``
must not pay for FastMCP, and ``from scs_server import hookimpl`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scs_server.errors import ErrorCode, ScsError
    from scs_server.hookspecs import hookimpl
    from scs_server.identity import Identity, current_identity, require_identity
    from scs_server.migrations import Migration
    from scs_server.tools import requires

    __version__: str

_EXPORTS = {
    "ErrorCode": "scs_server.errors",
    "ScsError": "scs_server.errors",
    "hookimpl": "scs_server.hookspecs",
    "Identity": "scs_server.identity",
    "current_identity": "scs_server.identity",
    "require_identity": "scs_server.identity",
    "Migration": "scs_server.migrations",
    "requires": "scs_server.tools",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scs-server")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'scs_server' has no attribute {name!r}")
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
