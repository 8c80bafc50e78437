"""Old home of :class:`Fingerprint`, now :mod:`fmood.utils.fingerprint`.

Re-exported so existing imports keep working; ``fmood.Fingerprint`` and
``fmood.store.Fingerprint`` remain the public names.
"""

from fmood.utils.fingerprint import Fingerprint, as_fingerprint

__all__ = ["Fingerprint", "as_fingerprint"]
