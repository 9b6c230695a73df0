"""scs plugin: memory."""
