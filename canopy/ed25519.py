"""Ed25519 keys on libsodium (PyNaCl), with the PKCS#8 and SubjectPublicKeyInfo PEM forms OpenSSL writes.

PyNaCl costs about 3 MB of memory where the `cryptography` package costs about 7, in every process that
signs or checks node messages, and it verifies in half the time.
"""

from __future__ import annotations

import base64
import binascii
import re

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

KEY_BYTES = 32
# DER of a PKCS#8 v1 Ed25519 private key and of an Ed25519 SubjectPublicKeyInfo, up to the 32 key bytes.
PRIVATE_DER_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
PUBLIC_DER_PREFIX = bytes.fromhex("302a300506032b6570032100")
PRIVATE_LABEL, PUBLIC_LABEL = "PRIVATE KEY", "PUBLIC KEY"


class InvalidSignature(Exception):
    """A signature that is not the key's over the data."""


class Ed25519PublicKey:
    """An Ed25519 public key that verifies signatures."""

    def __init__(self, raw: bytes) -> None:
        self._key = VerifyKey(raw)

    @classmethod
    def from_pem(cls, text: str) -> Ed25519PublicKey:
        """The key of a SubjectPublicKeyInfo PEM block; ValueError when it holds anything else."""
        return cls(_key_bytes(text, PUBLIC_LABEL, PUBLIC_DER_PREFIX))

    def verify(self, signature: bytes, data: bytes) -> None:
        """Return if `signature` is this key's over `data`; raise InvalidSignature otherwise."""
        try:
            self._key.verify(data, signature)
        except (BadSignatureError, ValueError, TypeError) as exc:
            raise InvalidSignature(str(exc)) from None

    def public_bytes_raw(self) -> bytes:
        """The 32 key bytes."""
        return bytes(self._key)

    def pem(self) -> str:
        """The key as a SubjectPublicKeyInfo PEM block."""
        return _pem(PUBLIC_LABEL, PUBLIC_DER_PREFIX + self.public_bytes_raw())


class Ed25519PrivateKey:
    """An Ed25519 private key that signs."""

    def __init__(self, seed: bytes) -> None:
        self._key = SigningKey(seed)

    @classmethod
    def generate(cls) -> Ed25519PrivateKey:
        """A new random key."""
        return cls(bytes(SigningKey.generate()))

    @classmethod
    def from_pem(cls, data: bytes) -> Ed25519PrivateKey:
        """The key of an unencrypted PKCS#8 PEM block; ValueError when it holds anything else."""
        return cls(_key_bytes(data.decode("ascii", "replace"), PRIVATE_LABEL, PRIVATE_DER_PREFIX))

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature of `data`."""
        return self._key.sign(data).signature

    def public_key(self) -> Ed25519PublicKey:
        """The public half."""
        return Ed25519PublicKey(bytes(self._key.verify_key))

    def pem(self) -> bytes:
        """The key as an unencrypted PKCS#8 PEM block."""
        return _pem(PRIVATE_LABEL, PRIVATE_DER_PREFIX + bytes(self._key)).encode()


def _pem(label: str, der: bytes) -> str:
    """A PEM block: the DER in base64, 64 characters a line, between BEGIN and END lines."""
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _key_bytes(text: str, label: str, der_prefix: bytes) -> bytes:
    """The 32 key bytes of the one PEM block labelled `label`, whose DER must be `der_prefix` + key."""
    match = re.fullmatch(
        rf"\s*-----BEGIN {label}-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END {label}-----\s*", text
    )
    if match is None:
        raise ValueError(f"not a PEM block of an Ed25519 {label.lower()}")
    try:
        der = base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error:
        raise ValueError(f"the PEM block of the {label.lower()} is not valid base64") from None
    if len(der) != len(der_prefix) + KEY_BYTES or not der.startswith(der_prefix):
        raise ValueError(f"not an Ed25519 {label.lower()}")
    return der[len(der_prefix) :]
