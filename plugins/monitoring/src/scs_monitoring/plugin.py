"""Hook implementations of the monitoring plugin."""

from __future__ import annotations
