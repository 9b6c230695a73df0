"""Hook implementations of the sessions plugin."""

from __future__ import annotations
