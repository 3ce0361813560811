"""``sv2 keygen``: create an authority key pair for an SV2 server."""

from __future__ import annotations

from pathlib import Path

import click

from stratumv2.app.keys import (
    AUTHORITY_KEY_FILE,
    AUTHORITY_PUB_FILE,
    KeyFileError,
    create_authority_files,
    public_key_text,
)
from stratumv2.noise import encode_secret_key

__all__ = ["command"]


@click.command(name="keygen")
@click.option(
    "--datadir",
    default="~/.stratumv2",
    show_default=True,
    help="Directory to write authority.key (secret, mode 0600) and authority.pub into.",
)
@click.option("--force", is_flag=True, help="Replace an existing authority.key.")
@click.option(
    "--show-secret",
    is_flag=True,
    help="Also print the secret key text (e.g. for an SRI config's authority_secret_key).",
)
def command(datadir: str, force: bool, show_secret: bool) -> None:
    """Create a new authority key pair and print its public key.

    \b
    The authority key signs the certificate every SV2 server (sv2 pool, tp, jds, jdc)
    presents in the Noise handshake; clients are configured with the PUBLIC key and refuse
    any server whose certificate it did not sign. Keys use SRI's base58check text, so they
    paste into SRI and ESP-Miner configs and back.

    \b
    Files:  DIR/authority.key   secret key (keep it private; mode 0600)
            DIR/authority.pub   public key text, for clients (--upstream-authority-key)

    Servers started with --datadir DIR use DIR/authority.key (or create one on first run).
    """
    directory = Path(datadir).expanduser()
    try:
        keypair = create_authority_files(directory, overwrite=force)
    except KeyFileError as exc:
        raise click.ClickException(f"{exc}; use --force to replace it") from None
    click.echo(f"secret key written to {directory / AUTHORITY_KEY_FILE}", err=True)
    click.echo(f"public key written to {directory / AUTHORITY_PUB_FILE}", err=True)
    if show_secret:
        click.echo(f"authority secret key: {encode_secret_key(keypair.secret)}", err=True)
    click.echo(public_key_text(keypair))
