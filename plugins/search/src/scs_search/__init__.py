"""scs plugin: search."""
