"""Benchmarks: `python -m bench` (or `make bench`). Numbers go to docs/PERFORMANCE.md."""
