"""Authority key files in a data directory (the only place keys touch the disk).

``DIR/authority.key`` holds the authority secret key as SRI's base58check text (mode 0600);
``DIR/authority.pub`` holds the public key text alone, ready to paste into a client's
``--upstream-authority-key`` (or SRI / ESP-Miner configs).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from stratumv2.app.config import ConfigError
from stratumv2.noise import (
    KeyEncodingError,
    Keypair,
    decode_secret_key,
    encode_authority_public_key,
    encode_secret_key,
)
from stratumv2.noise.primitives import is_valid_secret

__all__ = [
    "AUTHORITY_KEY_FILE",
    "AUTHORITY_PUB_FILE",
    "KeyFileError",
    "create_authority_files",
    "generate_secret",
    "load_or_create_authority",
    "parse_secret_text",
    "public_key_text",
]

log = logging.getLogger("stratumv2.keys")

AUTHORITY_KEY_FILE = "authority.key"
AUTHORITY_PUB_FILE = "authority.pub"


class KeyFileError(ConfigError):
    """An authority key file or text that cannot be used."""


def generate_secret() -> bytes:
    """A new random secp256k1 secret key."""
    while True:
        secret = os.urandom(32)
        if is_valid_secret(secret):
            return secret


def public_key_text(keypair: Keypair) -> str:
    """The authority public key in SRI's base58check text."""
    return encode_authority_public_key(keypair.public_key.data)


def parse_secret_text(text: str, source: str = "authority secret key") -> Keypair:
    """A keypair from SRI's base58check secret text (64 hex characters also accepted)."""
    text = text.strip()
    try:
        if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
            secret = bytes.fromhex(text)
            if not is_valid_secret(secret):
                raise KeyEncodingError("not a valid secp256k1 secret key")
        else:
            secret = decode_secret_key(text)
    except KeyEncodingError as exc:
        raise KeyFileError(f"{source}: {exc}") from None
    return Keypair(secret)


def _write_public(datadir: Path, keypair: Keypair) -> Path:
    path = datadir / AUTHORITY_PUB_FILE
    text = public_key_text(keypair) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def create_authority_files(datadir: Path | str, *, overwrite: bool = False) -> Keypair:
    """Generate a new authority key pair into ``datadir`` (secret file created with mode 0600)."""
    directory = Path(datadir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / AUTHORITY_KEY_FILE
    keypair = Keypair(generate_secret())
    if overwrite and path.exists():
        path.unlink()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists (refusing to overwrite a key)") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(encode_secret_key(keypair.secret) + "\n")
    os.chmod(path, 0o600)  # whatever the umask was
    _write_public(directory, keypair)
    return keypair


def load_or_create_authority(datadir: Path | str, secret_text: str | None = None) -> Keypair:
    """The server's authority key pair, as ``--authority-secret-key`` says.

    ``secret_text`` (SRI's base58check secret) wins; otherwise ``DIR/authority.key`` is read,
    or created on first run. ``DIR/authority.pub`` is (re)written with the public key text.
    """
    directory = Path(datadir).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    if secret_text:
        keypair = parse_secret_text(secret_text, "--authority-secret-key")
    else:
        path = directory / AUTHORITY_KEY_FILE
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
            keypair = parse_secret_text(path.read_text(), str(path))
        else:
            keypair = create_authority_files(directory)
            log.info("created a new authority key in %s", path)
    _write_public(directory, keypair)
    return keypair
