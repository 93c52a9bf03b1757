"""Ablation statistics: pure functions over a table of runs (no database, no torch)."""
