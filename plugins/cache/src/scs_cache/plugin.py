"""Hook implementations of the cache plugin."""

from __future__ import annotations
