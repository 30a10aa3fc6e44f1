"""The Ed25519 key that signs list manifests, so operators can prove a list came from ceir."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ceir.config import Settings


def load_or_create_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key; on first use (development, demo) a new one is made and kept 0600."""
    path = settings.signing_key_path
    if not path.exists():
        if settings.list_signing_key is not None:
            raise FileNotFoundError(f"list signing key not found: {path}")
        _write_new_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    return key


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


def public_key_pem(settings: Settings) -> bytes:
    return (
        load_or_create_key(settings)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def sign(settings: Settings, data: bytes) -> bytes:
    return load_or_create_key(settings).sign(data)
