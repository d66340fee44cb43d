"""Reproductions of the paper's tables; run e.g. ``python -m experiments.table3 --protocol cpu``."""
