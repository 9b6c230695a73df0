"""Minting and verifying agent JWTs: HS256 tokens are signed by ``scs_server.auth.hs256``
(standard library), other algorithms by PyJWT; every token is verified by PyJWT, which is
imported on first use (``scs token`` mints without it)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scs_server.auth import hs256
from scs_server.errors import ErrorCode, ScsError
from scs_server.identity import PERMISSIONS, Identity
from scs_server.timestamps import epoch_timestamp

if TYPE_CHECKING:
    from scs_server.settings import Settings

AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")
AGENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
RESTRICTED_TYPE = "readonly"
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Minted:
    token: str
    identity: Identity

    def as_result(self) -> dict[str, Any]:
        return {
            "success": True,
            "token": self.token,
            "token_type": "Bearer",
            "agent_id": self.identity.agent_id,
            "agent_type": self.identity.agent_type,
            "permissions": sorted(self.identity.permissions),
            "expires_at": epoch_timestamp(self.identity.expires_at or 0, micros=False),
        }


class TokenService:
    """Signs and verifies tokens with the configured algorithm and keys only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._verified: dict[str, Identity] = {}
        self.algorithm = settings.jwt_algorithm
        if self.algorithm == "HS256":
            if settings.jwt_secret_key is None:
                raise ValueError("SCS_JWT_SECRET_KEY is not set")
            secret = settings.jwt_secret_key.get_secret_value()
            self._signing_key: Any = secret
            self._verify_key: Any = secret
        else:
            if not settings.jwt_private_key_path or not settings.jwt_public_key_path:
                raise ValueError(
                    f"SCS_JWT_ALGORITHM={self.algorithm} needs SCS_JWT_PRIVATE_KEY_PATH "
                    "and SCS_JWT_PUBLIC_KEY_PATH"
                )
            self._signing_key = settings.jwt_private_key_path.read_bytes()
            self._verify_key = settings.jwt_public_key_path.read_bytes()

    # -- permissions --------------------------------------------------------
    def allowed_permissions(self, agent_type: str) -> frozenset[str]:
        table = self.settings.agent_type_permissions
        granted = table.get(agent_type, table.get(RESTRICTED_TYPE, ["read"]))
        return frozenset(granted)

    @staticmethod
    def check_agent(agent_id: str, agent_type: str) -> None:
        if not isinstance(agent_id, str) or not AGENT_ID_RE.match(agent_id):
            raise ScsError(
                ErrorCode.VALIDATION,
                "agent_id must be 1..100 characters: letters, digits and _ . : @ -",
                "use a short stable name such as 'claude-main' or 'reviewer-2'",
            )
        if not isinstance(agent_type, str) or not AGENT_TYPE_RE.match(agent_type):
            raise ScsError(
                ErrorCode.VALIDATION,
                "agent_type must be 1..50 lowercase letters, digits, _ or -",
                "for example 'claude', 'cursor', 'gemini', 'generic' or 'readonly'",
            )

    # -- tokens -------------------------------------------------------------
    def mint(
        self,
        agent_id: str,
        agent_type: str,
        permissions: frozenset[str],
        now: int | None = None,
        credential: str | None = None,
        *,
        ttl: int | None = None,
        name: str | None = None,
    ) -> Minted:
        """Sign a token; ``credential`` (what minted it: "api_key", "admin_key", ...) goes
        in the ``crd`` claim, which the rate limiter's aggregate buckets are keyed by.

        ``ttl`` (default ``SCS_TOKEN_TTL_SECONDS``) and ``name`` (the ``tkn`` claim) are
        for named client tokens; verification checks only ``exp``, whatever the TTL.
        """
        issued = int(time.time()) if now is None else now
        expires = issued + (self.settings.token_ttl_seconds if ttl is None else ttl)
        granted = sorted(p for p in permissions if p in PERMISSIONS)
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "sub": agent_id,
            "agent_type": agent_type,
            "permissions": granted,
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": jti,
        }
        if credential is not None:
            claims["crd"] = credential
        if name is not None:
            claims["tkn"] = name
        if self.algorithm == "HS256":
            token = hs256.encode(claims, self._signing_key)
        else:
            import jwt

            token = jwt.encode(claims, self._signing_key, algorithm=self.algorithm)
        identity = Identity(
            agent_id,
            agent_type,
            frozenset(granted),
            jti,
            expires,
            issued_at=issued,
            credential=credential,
            token_name=name,
        )
        return Minted(token, identity)

    def verify(self, token: str) -> Identity:
        """Check signature, algorithm, issuer, audience and times; return the identity.

        A token that verified once is remembered until it expires: the same string always
        verifies the same way, and PyJWT's checks cost ~50 us a call. Expiry is still
        checked on every use (revocation is the caller's job, on every call).
        """
        # a JWT is base64url and dots: anything else (e.g. a lone surrogate) is malformed
        if not isinstance(token, str) or not token or len(token) > 8192 or not token.isascii():
            raise self._invalid("the token is missing or malformed")
        known = self.known(token)
        if known is not None:
            return known
        identity = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first
        self._verified[token] = identity
        return identity

    def known(self, token: str) -> Identity | None:
        """The identity of a token that verified before and has not expired, else None
        (nothing is decoded: a token seen for the first time gets None)."""
        known = self._verified.get(token)
        if known is None:
            return None
        if known.expires_at is not None and time.time() < known.expires_at:
            return known
        del self._verified[token]
        return None

    def _decode(self, token: str) -> Identity:
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=1,
            )
        except jwt.ExpiredSignatureError:
            raise ScsError(
                ErrorCode.AUTH_EXPIRED,
                "the token has expired",
                "call refresh_token before expiry, or authenticate_agent again",
            ) from None
        except jwt.ImmatureSignatureError:
            raise self._invalid("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise self._invalid("the token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise self._invalid("the token was issued by another issuer") from None
        except jwt.PyJWTError as error:
            raise self._invalid(f"the token cannot be verified ({type(error).__name__})") from None
        agent_id, agent_type = claims.get("sub"), claims.get("agent_type")
        permissions, credential = claims.get("permissions"), claims.get("crd")
        name = claims.get("tkn")
        if (
            not isinstance(agent_id, str)
            or not isinstance(agent_type, str)
            or not isinstance(permissions, list)
        ):
            raise self._invalid("the token's claims are malformed")
        return Identity(
            agent_id,
            agent_type,
            frozenset(p for p in permissions if p in PERMISSIONS),
            str(claims["jti"]),
            int(claims["exp"]),
            issued_at=int(claims["iat"]),
            credential=credential if isinstance(credential, str) else None,
            token_name=name if isinstance(name, str) else None,
        )

    @staticmethod
    def _invalid(message: str) -> ScsError:
        return ScsError(
            ErrorCode.AUTH_INVALID_TOKEN,
            message,
            "get a new token with authenticate_agent",
        )
