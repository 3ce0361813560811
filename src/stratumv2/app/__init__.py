"""stratumv2.app."""
