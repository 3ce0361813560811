"""stratumv2: a Stratum V2 mining stack (template provider, pool, translator, job declaration)."""

__version__ = "0.1.0"
