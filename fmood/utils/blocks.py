"""Layer blocks: the named slices a backbone's vectors are concatenated from.

A backbone records them, a feature store keeps them in its manifest and the block scorer
scores each slice, so the rule for a valid layout lives here, below all three.
"""

from __future__ import annotations

from fmood.errors import InvalidInputError

#: Name of the only block of vectors that record none (a backbone's final features).
FINAL_BLOCK = "final"
#: (name, width) of each block, in concatenation order.
Blocks = tuple[tuple[str, int], ...]


def check_blocks(blocks: object, dim: int | None = None) -> Blocks:
    """``blocks`` as a tuple of (name, width): distinct non-empty names, positive widths
    adding up to ``dim`` (when given); else :class:`InvalidInputError` saying which rule failed."""
    try:
        # Any object is accepted: one that is not pairs raises the errors caught here.
        pairs = tuple((name, width) for name, width in blocks)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"blocks must be a sequence of (name, width) pairs, got {blocks!r}"
        ) from None
    if not pairs or not all(isinstance(n, str) and n and _is_int(w) and w > 0 for n, w in pairs):
        raise InvalidInputError(
            f"blocks must be (non-empty name, positive integer width) pairs, got {blocks!r}"
        )
    if len({n for n, _ in pairs}) != len(pairs):
        raise InvalidInputError(f"block names repeat: {[n for n, _ in pairs]}")
    if dim is not None and sum(w for _, w in pairs) != dim:
        raise InvalidInputError(
            f"block widths {[w for _, w in pairs]} add up to {sum(w for _, w in pairs)}, not dim {dim}"
        )
    return pairs


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
