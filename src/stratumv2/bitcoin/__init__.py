"""stratumv2.bitcoin."""
