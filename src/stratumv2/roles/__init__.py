"""stratumv2.roles."""
