"""scs built-in plugin: export, import, backup and retention (see README.md)."""
