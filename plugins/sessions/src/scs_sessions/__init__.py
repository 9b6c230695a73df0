"""scs plugin: sessions."""
