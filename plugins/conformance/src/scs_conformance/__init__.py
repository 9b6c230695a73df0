"""scs plugin: conformance (the MCP conformance suite's fixtures; opt-in, never in production)."""
