"""Fixtures shared by the utils tests (defined in tests/points.py)."""

from points import clustered, rng

__all__ = ["clustered", "rng"]
