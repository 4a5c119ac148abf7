"""Ed25519 keys on libsodium: RFC 8032's vector, and PEM files that OpenSSL-based tools read and wrote."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519 as openssl_ed25519

from canopy.ed25519 import Ed25519PrivateKey, Ed25519PublicKey, InvalidSignature

# RFC 8032, section 7.1, TEST 1 (the empty message)
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f"
    "0595bbe24655141438e7a100b"
)


def test_the_rfc_8032_vector_signs_and_verifies() -> None:
    key = Ed25519PrivateKey(RFC_SECRET)
    assert key.public_key().public_bytes_raw() == RFC_PUBLIC
    assert key.sign(b"") == RFC_SIGNATURE
    key.public_key().verify(RFC_SIGNATURE, b"")


@pytest.mark.parametrize(
    ("signature", "data"),
    [(RFC_SIGNATURE, b"x"), (bytes(64), b""), (RFC_SIGNATURE[:-1], b""), (b"", b"")],
    ids=["other data", "zero signature", "short signature", "empty signature"],
)
def test_a_signature_that_is_not_the_keys_is_refused(signature: bytes, data: bytes) -> None:
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey(RFC_PUBLIC).verify(signature, data)


def test_keys_written_by_openssl_are_read_and_keys_written_here_are_read_by_openssl() -> None:
    theirs = openssl_ed25519.Ed25519PrivateKey.generate()
    their_pem = theirs.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ours = Ed25519PrivateKey.from_pem(their_pem)
    assert ours.pem() == their_pem
    their_public = theirs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ours.public_key().pem() == their_public.decode()
    theirs.public_key().verify(ours.sign(b"status"), b"status")
    Ed25519PublicKey.from_pem(their_public.decode()).verify(theirs.sign(b"command"), b"command")


def test_pem_blocks_of_other_keys_or_garbage_are_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ec_private = ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ours = Ed25519PrivateKey.generate()
    for text in (ec_public.decode(), "", "-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(ValueError):
            Ed25519PublicKey.from_pem(text)
    with pytest.raises(ValueError):
        Ed25519PublicKey.from_pem(ours.pem().decode())  # a private block where a public one belongs
    for data in (ec_private, ours.public_key().pem().encode(), ours.pem() + ours.pem()):
        with pytest.raises(ValueError):
            Ed25519PrivateKey.from_pem(data)
