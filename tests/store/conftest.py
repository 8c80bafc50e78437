"""Fixtures shared by the store tests (defined in tests/points.py)."""

from points import clustered, rng

__all__ = ["clustered", "rng"]
