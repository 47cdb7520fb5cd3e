"""Benchmarks: run with `python -m bench.<name>`; not part of the test command."""
