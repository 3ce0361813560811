"""``sv2 keygen`` and the authority key files every server role uses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from stratumv2.app.cli import main
from stratumv2.app.keys import KeyFileError, load_or_create_authority, public_key_text
from stratumv2.noise import Keypair, decode_authority_public_key, decode_secret_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_files_and_prints_public_key(tmp_path: Path) -> None:
    datadir = tmp_path / "keys"
    result = CliRunner().invoke(main, ["keygen", "--datadir", str(datadir)])
    assert result.exit_code == 0, result.output
    public_text = result.stdout.strip().splitlines()[-1]
    key_file, pub_file = datadir / "authority.key", datadir / "authority.pub"
    assert _mode(key_file) == 0o600
    assert pub_file.read_text().strip() == public_text
    secret = decode_secret_key(key_file.read_text())
    assert decode_authority_public_key(public_text) == Keypair(secret).public_key


def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["keygen", "--datadir", str(tmp_path)]).stdout.strip()
    again = runner.invoke(main, ["keygen", "--datadir", str(tmp_path)])
    assert again.exit_code != 0 and "already exists" in again.output
    assert (tmp_path / "authority.pub").read_text().strip() == first
    forced = runner.invoke(main, ["keygen", "--datadir", str(tmp_path), "--force"])
    assert forced.exit_code == 0 and forced.stdout.strip() != first


def test_keygen_help() -> None:
    result = CliRunner().invoke(main, ["keygen", "--help"])
    assert result.exit_code == 0
    assert "authority.key" in result.output and "--upstream-authority-key" in result.output


def test_load_or_create_is_stable(tmp_path: Path) -> None:
    first = load_or_create_authority(tmp_path)
    assert _mode(tmp_path / "authority.key") == 0o600
    assert load_or_create_authority(tmp_path).secret == first.secret
    assert (tmp_path / "authority.pub").read_text().strip() == public_key_text(first)


def test_secret_text_overrides_file(tmp_path: Path) -> None:
    sri = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n"
    keypair = load_or_create_authority(tmp_path, sri)
    assert public_key_text(keypair) == "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
    assert not (tmp_path / "authority.key").exists()
    assert (tmp_path / "authority.pub").read_text().strip() == public_key_text(keypair)
    with pytest.raises(KeyFileError, match="checksum"):
        load_or_create_authority(tmp_path, sri[:-1] + "m")


def test_corrupt_key_file(tmp_path: Path) -> None:
    (tmp_path / "authority.key").write_text("not a key\n")
    with pytest.raises(KeyFileError, match=r"authority\.key"):
        load_or_create_authority(tmp_path)
