"""Signing HS256 JWTs with the standard library only: the one encoder for every token
scs mints with a shared secret (the server's ``authenticate_agent``/``refresh_token`` and
``scs token`` alike), so ``scs token`` does not import PyJWT and ``cryptography``.

The output is byte for byte what ``jwt.encode(claims, secret, algorithm="HS256")``
(PyJWT 2) gives: header ``{"alg":"HS256","typ":"JWT"}`` (keys sorted), the claims as
compact JSON in their order, base64url without padding, HMAC-SHA256 over
``header.payload``. Verification stays on PyJWT (``scs_server.auth.tokens``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

HEADER = b'{"alg":"HS256","typ":"JWT"}'


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def encode(claims: dict[str, Any], secret: str) -> str:
    """The signed token for ``claims`` (JSON-serialisable values) under ``secret``."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = _b64url(HEADER) + b"." + _b64url(payload)
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(signature)).decode("ascii")
