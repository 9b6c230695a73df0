"""scs plugin: messaging."""
