"""stratumv2.noise."""
