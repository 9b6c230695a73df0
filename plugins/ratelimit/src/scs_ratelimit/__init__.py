"""scs plugin: ratelimit."""
