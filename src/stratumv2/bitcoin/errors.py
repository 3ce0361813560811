"""Errors raised by the bitcoin primitives."""

from __future__ import annotations

__all__ = ["AddressError", "BitcoinDecodeError", "BitcoinError", "CoinbaseError"]


class BitcoinError(Exception):
    """Base class for errors from ``stratumv2.bitcoin``."""


class BitcoinDecodeError(BitcoinError, ValueError):
    """Bytes that do not parse as the expected Bitcoin structure."""


class AddressError(BitcoinError, ValueError):
    """An address that is invalid, or not valid on the requested network."""


class CoinbaseError(BitcoinError, ValueError):
    """A coinbase that cannot be built as requested (sizes, values, scriptSig limits)."""
