"""Execution stores for the runner (the official testing package's ``stores`` package)."""
