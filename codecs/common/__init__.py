"""Shared utilities, the bottom layer: settings, atomic writes, names, hashes, types, CPU policy.

Nothing here imports another part of fcbench (tests/test_layering.py checks it)."""
