"""shared-context-server core: the plugin host every scs feature plugs into."""

from importlib.metadata import PackageNotFoundError, version

from scs.errors import ErrorCode, ScsError
from scs.hookspecs import hookimpl
from scs.identity import Identity, current_identity, require_identity
from scs.migrations import Migration
from scs.tools import requires

try:
    __version__ = version("scs-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

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
