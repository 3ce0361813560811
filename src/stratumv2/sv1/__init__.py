"""stratumv2.sv1."""
