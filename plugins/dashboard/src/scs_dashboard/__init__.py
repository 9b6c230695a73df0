"""scs built-in plugin: the web dashboard at ``/ui``."""
