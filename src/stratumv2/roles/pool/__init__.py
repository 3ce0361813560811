"""``sv2 pool``: the Mining protocol server (solo or pool payouts) fed by a Template Provider."""
