"""Benchmarks printing tables; each runs as `python -m benchmarks.bench_x` from the project root."""
