"""Levqor benchmark suite: `python bench/run.py` (see bench/README.md). Not imported by the app."""
