"""Side-by-side benchmarks of durable_exec and the official AWS durable-execution SDK.

Run ``python -m benchmarks`` (or ``python benchmarks/run.py``); see
``BENCHMARKS.md`` at the repository root for the method, the figures and the
targets, and ``python -m benchmarks --help`` for the options.
"""
