"""The smallest valid media files, base64-encoded, for image, audio and blob content."""

from __future__ import annotations

# a 1x1 red pixel (PNG, 8-bit RGB)
RED_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
# one millisecond of silence (WAV, 8 kHz, 8-bit mono)
SILENT_WAV = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA=="
