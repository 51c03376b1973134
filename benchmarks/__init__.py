"""Load scenarios for the proxy; each is a runnable module (python -m benchmarks.NAME)."""
