"""Authentication: API keys gate token minting; JWTs carry identity on every call."""

from scs_server.auth.tokens import TokenService

__all__ = ["TokenService"]
