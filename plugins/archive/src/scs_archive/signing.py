"""Ed25519 signatures of archive files.

The signature covers the exact bytes of the file through their SHA-512 digest (so
signing and checking stream the file in constant memory): the signed message is
``scs-archive-v1 sha512:<hex digest>``. It is stored next to the file as ``FILE.sig``
(base64, one line). Keys are PEM: the private key (PKCS#8) and ``KEY.pub``; every file
written here is mode 0600 (``private_files``).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from scs_server.errors import ErrorCode, ScsError, validation_error

from scs_archive.private_files import create_new, replacing

PREFIX = b"scs-archive-v1 sha512:"
CHUNK = 1024 * 1024


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def digest(path: Path) -> bytes:
    """The message that is signed: the prefix and the file's SHA-512, streamed."""
    hasher = hashlib.sha512()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            hasher.update(chunk)
    return PREFIX + hasher.hexdigest().encode()


def load_or_create_key(keyfile: Path) -> Ed25519PrivateKey:
    """The private key in ``keyfile``; created with ``keyfile.pub`` when absent (both
    mode 0600, whatever the umask)."""
    if keyfile.exists():
        key = serialization.load_pem_private_key(keyfile.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise validation_error(f"{keyfile} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    create_new(keyfile, pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with replacing(Path(f"{keyfile}.pub")) as out:
        out.write(public)
    return key


def sign(path: Path, keyfile: Path) -> Path:
    """Write ``path``.sig; return its path."""
    key = load_or_create_key(keyfile)
    target = signature_path(path)
    with replacing(target) as out:
        out.write(base64.b64encode(key.sign(digest(path))) + b"\n")
    return target


def verify(path: Path, pubfile: Path) -> None:
    """Refuse ``path`` unless ``path``.sig is a valid signature by ``pubfile``'s key."""
    public = serialization.load_pem_public_key(pubfile.read_bytes())
    if not isinstance(public, Ed25519PublicKey):
        raise validation_error(f"{pubfile} is not an Ed25519 public key")
    sig_path = signature_path(path)
    if not sig_path.exists():
        raise ScsError(ErrorCode.VALIDATION, f"no signature {sig_path}", "export with --sign")
    try:
        public.verify(base64.b64decode(sig_path.read_bytes().strip()), digest(path))
    except (InvalidSignature, ValueError):
        raise ScsError(
            ErrorCode.VALIDATION,
            f"{path}: the signature does not match (the file was changed or cut short)",
            "nothing was imported; get an intact copy of the file and its .sig",
        ) from None
