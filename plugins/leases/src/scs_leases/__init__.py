"""scs plugin: leases (advisory locks on files and resources)."""
