"""Shared plumbing at the bottom of fmood: it imports nothing from the rest of the library
except :mod:`fmood.errors` and :mod:`fmood._validation`.

- :mod:`fmood.utils.atomic`: crash-safe writes, the writer lock, staged output directories.
- :mod:`fmood.utils.outputs`: the guard that refuses to replace a user's directory.
- :mod:`fmood.utils.index`: thin FAISS wrappers shared by the feature store and the scorers.
- :mod:`fmood.utils.fingerprint`: the identity of the backbone behind a set of embeddings.
- :mod:`fmood.utils.blocks`: the layer blocks a backbone's vectors are concatenated from.

Nothing is imported here, so that reaching one submodule does not load faiss.
"""
