"""Thin FAISS wrappers: build an index from a factory string, train, search in chunks, move to GPU.

Shared by the feature store, the scorers and the detector. Distances are returned as FAISS gives them:
squared L2 for ``metric="l2"``, inner product for ``metric="ip"``.
"""

from __future__ import annotations

import faiss
import numpy as np
from numpy.typing import ArrayLike

from fmood._validation import check_embeddings, check_positive_int
from fmood.errors import InvalidInputError

METRICS = {"l2": faiss.METRIC_L2, "ip": faiss.METRIC_INNER_PRODUCT}
DEVICES = ("auto", "cpu", "cuda")

# faiss k-means warns below 39 training points per centroid; below 1 per centroid it fails.
POINTS_PER_CENTROID = 39
#: k-means of IVF and PQ training sees at most this many points per centroid (FAISS's own
#: default is 256). Centroids barely move past ~64 points each, while training time grows
#: linearly: at 50,000 x 768 this cuts IVF256 training 4x (benchmarks/README.md).
MAX_TRAINING_POINTS_PER_CENTROID = 64
# faiss's HNSW default efSearch (16) loses recall at k around 10; 64 keeps it above 0.9.
DEFAULT_EF_SEARCH = 64

_gpu_resources = None


def default_nprobe(nlist: int) -> int:
    """Inverted lists probed per query unless told otherwise: 1/32 of them, at least 8."""
    return min(nlist, max(8, nlist // 32))


def build_index(dim: int, spec: str = "Flat", metric: str = "l2") -> faiss.Index:
    """An empty FAISS index from an index-factory string.

    Parameters
    ----------
    dim : int
        Vector dimension.
    spec : str
        FAISS index-factory string: ``"Flat"`` (exact), ``"HNSW32"``, ``"IVF256,Flat"``,
        ``"IVF1024,PQ64"``, ... IVF indexes get ``nprobe = default_nprobe(nlist)`` and HNSW
        ``efSearch = 64``, both kept when the index is written to disk.
    metric : {"l2", "ip"}
        Squared Euclidean distance or inner product.

    Raises
    ------
    InvalidInputError
        Unknown metric, or a spec FAISS cannot build for ``dim``.
    """
    dim = check_positive_int(dim, "dim")
    if metric not in METRICS:
        raise InvalidInputError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    if not isinstance(spec, str):
        raise InvalidInputError(f"index spec must be a FAISS index-factory string, got {spec!r}")
    try:
        index = faiss.index_factory(dim, spec, METRICS[metric])
    except RuntimeError as e:
        raise InvalidInputError(
            f"FAISS cannot build index {spec!r} for {dim}-d vectors: {_faiss_message(e)}; "
            "see https://github.com/facebookresearch/faiss/wiki/The-index-factory"
        ) from e
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.nprobe = default_nprobe(ivf.nlist)
    hnsw = _hnsw(index)
    if hnsw is not None:
        hnsw.efSearch = DEFAULT_EF_SEARCH
    return index


def _hnsw(index: faiss.Index) -> faiss.HNSW | None:
    index = faiss.downcast_index(index)
    return index.hnsw if isinstance(index, faiss.IndexHNSW) else None


def _faiss_message(e: RuntimeError) -> str:
    # faiss prefixes its messages with the C++ function and source line; keep the reason.
    return str(e).rsplit(": ", 1)[-1].strip()


def is_exact(index: faiss.Index) -> bool:
    """Whether ``index`` is a plain ``IndexFlat`` (exact search, cheap to rebuild)."""
    return isinstance(faiss.downcast_index(index), faiss.IndexFlat)


def min_training_points(index: faiss.Index) -> int:
    """Fewest vectors ``index`` can be trained on (0 when it needs no training).

    Counts IVF coarse centroids and PQ codebook entries; other trained components are
    assumed to need at least one point.
    """
    if index.is_trained:
        return 0
    needed = 1
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        needed = max(needed, ivf.nlist)
    for part in (index, ivf):
        pq = None if part is None else getattr(faiss.downcast_index(part), "pq", None)
        if pq is not None:
            needed = max(needed, pq.ksub)
    return needed


def recommended_training_points(index: faiss.Index) -> int:
    """Vectors to collect before training, so k-means has enough points per centroid."""
    return POINTS_PER_CENTROID * min_training_points(index)


def train_index(index: faiss.Index, X: ArrayLike) -> None:
    """Train ``index`` on ``X`` of shape (n, dim) if it needs training.

    Raises
    ------
    InvalidInputError
        Fewer than :func:`min_training_points` vectors, or FAISS rejects the training set.
    """
    if index.is_trained:
        return
    X = check_embeddings(X, "training vectors", dim=index.d)
    needed = min_training_points(index)
    if X.shape[0] < needed:
        raise InvalidInputError(
            f"this index needs at least {needed} vectors to train (ideally "
            f"{recommended_training_points(index)}), got {X.shape[0]}; add more vectors or "
            'choose a smaller index (fewer IVF lists, or "Flat")'
        )
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.max_points_per_centroid = MAX_TRAINING_POINTS_PER_CENTROID
    try:
        index.train(X)
    except RuntimeError as e:
        raise InvalidInputError(f"FAISS could not train the index: {_faiss_message(e)}") from e


def train_and_add(index: faiss.Index, X: ArrayLike) -> None:
    """Train ``index`` on ``X`` (n, dim) when it needs training, then add ``X``."""
    X = check_embeddings(X, "X", dim=index.d)
    train_index(index, X)
    index.add(X)


def search(
    index: faiss.Index,
    queries: ArrayLike,
    k: int,
    *,
    batch_size: int = 4096,
    nprobe: int | None = None,
    ef_search: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest stored vectors of each query, ``batch_size`` queries at a time.

    Parameters
    ----------
    index : faiss.Index
        A trained index holding at least ``k`` vectors.
    queries : array-like of shape (n_queries, dim)
    k : int
    batch_size : int
        Queries per FAISS call; bounds the temporary memory.
    nprobe, ef_search : int, optional
        IVF lists to probe / HNSW search breadth. Set on the index before searching (the
        setting stays); None keeps the index's own.

    Returns
    -------
    distances : ndarray of shape (n_queries, k), float32
        Squared L2 (ascending) or inner product (descending), as FAISS gives them.
    ids : ndarray of shape (n_queries, k), int64
        Positions of the neighbours in the index; -1 where an approximate index found
        fewer than ``k`` candidates.
    """
    k = check_positive_int(k, "k")
    batch_size = check_positive_int(batch_size, "batch_size")
    Q = check_embeddings(queries, "queries", dim=index.d, min_samples=0)
    if k > index.ntotal:
        raise InvalidInputError(
            f"k={k} neighbours asked for, but the index holds only {index.ntotal} vectors; "
            f"use k <= {index.ntotal}"
        )
    if nprobe is not None:
        _set_parameter(index, "nprobe", check_positive_int(nprobe, "nprobe"))
    if ef_search is not None:
        _set_parameter(index, "efSearch", check_positive_int(ef_search, "ef_search"))
    n = Q.shape[0]
    order = _list_order(index, Q)
    if order is not None:
        Q = Q[order]
    distances = np.empty((n, k), dtype=np.float32)
    ids = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        distances[start:stop], ids[start:stop] = index.search(Q[start:stop], k)
    if order is not None:
        distances[order], ids[order] = distances.copy(), ids.copy()
    return distances, ids


def _list_order(index: faiss.Index, Q: np.ndarray) -> np.ndarray | None:
    """Query order grouping queries by their nearest inverted list (CPU IVF indexes only).

    An IVF scan is bound by memory bandwidth; neighbouring queries then read the same lists
    while they are still in cache (1.2-1.7x faster on 768-d float lists, which pays for the
    extra coarse assignment; ``search_preassigned`` measured slower than this). Results are
    put back in the caller's order.
    """
    if Q.shape[0] < 2 or _on_gpu(index):
        return None
    ivf = faiss.downcast_index(index)
    if not isinstance(ivf, faiss.IndexIVF):  # a pre-transformed IVF sees other vectors
        return None
    lists = ivf.quantizer.search(Q, 1)[1][:, 0]
    return np.argsort(lists, kind="stable")


def _set_parameter(index: faiss.Index, name: str, value: int) -> None:
    space = faiss.GpuParameterSpace() if _on_gpu(index) else faiss.ParameterSpace()
    try:
        space.set_index_parameter(index, name, value)
    except RuntimeError as e:
        kind = "IVF" if name == "nprobe" else "HNSW"
        actual = type(faiss.downcast_index(index)).__name__
        raise InvalidInputError(f"{name} applies only to {kind} indexes, not to {actual}") from e


def _on_gpu(index: faiss.Index) -> bool:
    return type(index).__name__.startswith("Gpu")


def gpu_available() -> bool:
    """Whether this FAISS build has GPU support and sees at least one GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def to_device(index: faiss.Index, device: str = "auto") -> faiss.Index:
    """A copy of ``index`` on GPU 0, or ``index`` itself on CPU.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` uses the GPU when FAISS has GPU support and sees one, and stays on CPU
        for index types FAISS cannot run on GPU (e.g. HNSW). ``"cuda"`` raises instead.
    """
    global _gpu_resources
    if device not in DEVICES:
        raise InvalidInputError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu" or (device == "auto" and not gpu_available()):
        return index
    if not gpu_available():
        raise InvalidInputError(
            "device='cuda' but FAISS sees no GPU; install faiss-gpu (pip install fmood[gpu]) "
            "or use device='cpu'"
        )
    if _gpu_resources is None:
        # One resource object per process: each holds a large scratch allocation on the GPU.
        _gpu_resources = faiss.StandardGpuResources()
    try:
        return faiss.index_cpu_to_gpu(_gpu_resources, 0, index)
    except RuntimeError as e:
        if device == "auto":
            return index
        raise InvalidInputError(f"FAISS cannot move this index to GPU: {_faiss_message(e)}") from e
