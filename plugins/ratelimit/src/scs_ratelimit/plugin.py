"""Hook implementations of the ratelimit plugin."""

from __future__ import annotations
