"""stratumv2.net."""
