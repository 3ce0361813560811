"""stratumv2.mining."""
