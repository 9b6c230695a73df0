"""scs plugin: cache."""
