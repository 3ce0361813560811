"""stratumv2.protocol."""
