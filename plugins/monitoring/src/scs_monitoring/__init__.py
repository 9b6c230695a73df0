"""scs plugin: monitoring."""
