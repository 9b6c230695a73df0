"""The compiled kernel (``_locality.c``), or None when it was not built.

It is built with the plugin when a C compiler is there. Without it ``locality`` gives
no bound and ``grams`` counts gram lines in numpy (same results, slower).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

kernel: ModuleType | None
try:
    from scs_search import _locality as kernel
except ImportError:  # pragma: no cover - depends on the build
    kernel = None
