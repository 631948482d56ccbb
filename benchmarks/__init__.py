"""Benchmarks: stage timings and memory at Dacon's scale (``python -m benchmarks.bench``); not installed."""
