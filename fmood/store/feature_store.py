"""FeatureStore: a persistent, FAISS-searchable directory of embeddings and per-image metadata.

Layout of a store directory::

    manifest.json            what is committed: count, dim, metric, index, fingerprint, parts
    vectors.f32              raw row-major little-endian float32, appended to
    metadata/part-*.parquet  one metadata part per add
    index.faiss              trained ANN index (not for "Flat", which is rebuilt in memory)
    .lock                    flock taken by writers; readers take no lock

Every add writes data files first and commits by atomically replacing ``manifest.json``;
readers map only what the manifest they read lists, so a writer killed at any point
leaves the store readable with its previous contents.

The manifest also records what each add wrote (sizes, row counts, SHA-256 of the appended
vector bytes, of each metadata part and of the index; see :mod:`fmood.store.manifest`):
sizes are checked on every open, hashes by :meth:`FeatureStore.verify`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike

from fmood._validation import check_embeddings, check_positive_int
from fmood.errors import InvalidInputError, StoreCorruptError, StoreError, StoreMismatchError
from fmood.store.layout import (
    INDEX,
    LOCK,
    MANIFEST,
    METADATA_DIR,
    TMP_SUFFIX,
    VECTORS,
    is_part_name,
    part_name,
)
from fmood.store.manifest import (
    METRICS,
    FileSum,
    Manifest,
    VectorSpan,
    read_manifest,
    sha256_of,
    write_manifest,
)
from fmood.store.metadata import (
    MetadataLike,
    concat_parts,
    part_keys,
    part_rows,
    read_part,
    table_keys,
    to_table,
    write_part,
)
from fmood.store.neighbors import Neighbors, drop_self
from fmood.store.vectors import DTYPE as VECTOR_DTYPE
from fmood.store.vectors import append_vectors, check_vector_file, map_vectors
from fmood.utils.atomic import exclusive_lock, write_atomic
from fmood.utils.blocks import FINAL_BLOCK, check_blocks
from fmood.utils.fingerprint import Fingerprint, as_fingerprint
from fmood.utils.index import (
    DEVICES,
    MAX_TRAINING_POINTS_PER_CENTROID,
    build_index,
    is_exact,
    min_training_points,
    recommended_training_points,
    search,
    to_device,
    train_index,
)

MODES = ("r", "a")
# Rows moved from the memory map into a FAISS index per call: bounds the temporary copy.
_ADD_BATCH = 16384
# Files an interrupted create() leaves behind; a directory holding only these may be reused.
_CREATE_LEFTOVERS = {LOCK, VECTORS, METADATA_DIR}


class FeatureStore:
    """Embeddings of one backbone plus per-image metadata, kept in a directory.

    Make one with :meth:`create`, reopen it with :meth:`open`. Ids are consecutive
    integers from 0 in the order vectors were added. Any number of processes may read a
    store while one writes (writers serialise on a file lock); a reader sees the store as
    it was when opened, until :meth:`refresh`.

    Search uses FAISS. ``metric="cosine"`` indexes L2-normalised vectors and reports the
    Euclidean distance between unit vectors, ``sqrt(2 - 2 cos)``; ``metric="l2"`` reports
    plain Euclidean distance. An ANN index (``"HNSW32"``, ``"IVF256,Flat"``, ...) is kept in
    ``index.faiss``; one that needs training (IVF, PQ) is trained once the store holds
    39 points per centroid, and until then searches are exact.
    """

    def __init__(self, path: Path, manifest: Manifest, mode: str, device: str) -> None:
        """Use :meth:`create` or :meth:`open`."""
        self._path = path
        self._manifest = manifest
        self._mode = mode
        self._device = device
        self._embeddings: np.ndarray | None = None
        self._part_frames: dict[str, pd.DataFrame] = {}
        self._metadata: pd.DataFrame | None = None
        self._index: faiss.Index | None = None  # CPU index covering exactly len(self) vectors
        self._device_index: faiss.Index | None = None
        # Key columns -> (parts read, the keys of their rows): parts never change once
        # committed, so a later add reads only the parts committed since.
        self._keys: dict[tuple[str, ...], tuple[tuple[str, ...], set[tuple[object, ...]]]] = {}

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        dim: int,
        fingerprint: Fingerprint | Mapping[str, object] | None = None,
        *,
        index: str = "Flat",
        metric: str = "cosine",
        exist_ok: bool = False,
        device: str = "auto",
        blocks: Sequence[tuple[str, int]] | None = None,
    ) -> FeatureStore:
        """Create an empty store at ``path`` (a new or empty directory), open for appending.

        Parameters
        ----------
        path : path-like
        dim : int
            Dimension of the vectors the store will hold.
        fingerprint : Fingerprint or dict, optional
            Backbone identity; adds that name another fingerprint are refused.
        index : str
            FAISS index-factory string; ``"Flat"`` is exact.
        metric : {"cosine", "l2"}
        exist_ok : bool
            If ``path`` already is a store, open it instead, after checking that its dim,
            fingerprint, metric and index match (else :class:`StoreMismatchError`).
        device : {"auto", "cpu", "cuda"}
            Where searches run; ``"auto"`` uses a GPU when FAISS has one.
        blocks : sequence of (str, int), optional
            Name and width of each layer block of the vectors, in order (a backbone's
            ``blocks``); recorded in the manifest, read back as :attr:`blocks`.

        Raises
        ------
        StoreError
            ``path`` is a store and ``exist_ok`` is False, a non-empty directory that is not
            a store, a file, or cannot be written.
        """
        path = Path(path)
        dim = check_positive_int(dim, "dim")
        fp = as_fingerprint(fingerprint)
        _check_choice(metric, METRICS, "metric")
        _check_choice(device, DEVICES, "device")
        build_index(dim, index, "l2")  # reject a bad index string now, not at the first add
        layout = None if blocks is None else check_blocks(blocks, dim)
        manifest = Manifest(dim=dim, metric=metric, index=index, fingerprint=fp, blocks=layout)
        if not (path / MANIFEST).exists():
            _check_reusable(path)
            try:
                path.mkdir(parents=True, exist_ok=True)
                with exclusive_lock(path / LOCK):
                    # Re-checked under the lock: another process may have created it meanwhile.
                    if not (path / MANIFEST).exists():
                        (path / VECTORS).write_bytes(b"")
                        (path / METADATA_DIR).mkdir(exist_ok=True)
                        write_manifest(path, manifest)
                        return cls(path, manifest, "a", device)
            except OSError as e:
                raise StoreError(
                    f"cannot create a feature store at {path}: {e}; choose a writable directory"
                ) from e
        if not exist_ok:
            raise StoreError(
                f"{path} already is a feature store; open it with "
                "FeatureStore.open(path, mode='a') or pass exist_ok=True"
            )
        store = cls.open(path, mode="a", device=device)
        store._check_compatible(dim, fp)
        if (metric, index) != (store.metric, store.index_spec):
            raise StoreMismatchError(
                f"store at {path} uses metric {store.metric!r} and index {store.index_spec!r}; "
                f"asked for metric {metric!r} and index {index!r}"
            )
        return store

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], mode: str = "r", *, device: str = "auto"
    ) -> FeatureStore:
        """Open an existing store.

        Parameters
        ----------
        mode : {"r", "a"}
            ``"r"`` reads only; ``"a"`` also allows :meth:`add`.
        device : {"auto", "cpu", "cuda"}
            Where searches run.

        Raises
        ------
        NotAStoreError
            ``path`` is missing, a file, or a directory without ``manifest.json``.
        StoreCorruptError
            The manifest is unreadable, or data files are missing or shorter than it says.
        StoreVersionError
            The store was written by a newer fmood.
        """
        _check_choice(mode, MODES, "mode")
        _check_choice(device, DEVICES, "device")
        path = Path(path)
        manifest = read_manifest(path)
        store = cls(path, manifest, mode, device)
        store._check_files(manifest)
        return store

    def refresh(self) -> None:
        """Re-read the manifest, to see what other processes added since this store was opened."""
        self._adopt(read_manifest(self._path))

    def _adopt(self, manifest: Manifest) -> None:
        if manifest == self._manifest:
            return
        self._check_files(manifest)
        self._manifest = manifest
        self._drop_caches()

    def _check_files(self, m: Manifest) -> None:
        """Sizes and row counts against the manifest (cheap: no data is read)."""
        problems = _size_problems(self._path, m)
        if problems:
            raise StoreCorruptError("\n".join(problems))

    def _drop_caches(self) -> None:
        # Part frames stay: committed parts never change.
        self._embeddings = None
        self._metadata = None
        self._index = None
        self._device_index = None

    # ------------------------------------------------------------------ contents

    def __len__(self) -> int:
        return self._manifest.count

    def __repr__(self) -> str:
        fp = self.fingerprint.name if self.fingerprint else None
        return (
            f"FeatureStore({str(self._path)!r}, n={len(self)}, dim={self.dim}, "
            f"metric={self.metric!r}, index={self.index_spec!r}, fingerprint={fp!r})"
        )

    @property
    def path(self) -> Path:
        """The store directory."""
        return self._path

    @property
    def dim(self) -> int:
        """Dimension of the stored vectors."""
        return self._manifest.dim

    @property
    def metric(self) -> str:
        """``"cosine"`` or ``"l2"``."""
        return self._manifest.metric

    @property
    def index_spec(self) -> str:
        """FAISS index-factory string the store searches with."""
        return self._manifest.index

    @property
    def fingerprint(self) -> Fingerprint | None:
        """Identity of the backbone the vectors came from."""
        return self._manifest.fingerprint

    @property
    def blocks(self) -> tuple[tuple[str, int], ...]:
        """Name and width of each layer block of the vectors, in order; ``(("final", dim),)``
        for a store that recorded none."""
        return self._manifest.blocks or ((FINAL_BLOCK, self.dim),)

    @property
    def embeddings(self) -> np.ndarray:
        """Read-only ``np.memmap`` of shape (len(self), dim), float32, the vectors as added."""
        if self._embeddings is None:
            self._embeddings = map_vectors(self._path / VECTORS, len(self), self.dim)
        return self._embeddings

    @property
    def metadata(self) -> pd.DataFrame:
        """One row per vector, indexed by id (0..n-1), with at least a ``path`` column.

        A copy: changing it leaves the store as it is. Columns some adds lacked hold nulls.
        """
        if self._metadata is None:
            frames = [self._part_frame(name) for name in self._manifest.metadata_parts]
            self._metadata = concat_parts(frames)
        return self._metadata.copy()

    def _part_frame(self, name: str) -> pd.DataFrame:
        if name not in self._part_frames:
            self._part_frames[name] = read_part(self._path / METADATA_DIR / name)
        return self._part_frames[name]

    @property
    def index(self) -> faiss.Index:
        """The CPU FAISS index over all vectors (normalised for cosine), built or loaded on demand.

        An exact ``IndexFlatL2`` for ``"Flat"`` stores and for ANN stores not trained yet.
        """
        if self._index is None:
            if self._manifest.index_count is None:
                self._index = faiss.IndexFlatL2(self.dim)
                self._add_rows(self._index, self.embeddings, 0, len(self))
            else:
                self._index = self._load_index()
        return self._index

    def _load_index(self) -> faiss.Index:
        path = self._path / INDEX
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise StoreCorruptError(
                f"{path} is not a readable FAISS index ({e}); restore it from a backup"
            ) from e
        if index.d != self.dim:
            raise StoreCorruptError(
                f"{path} indexes {index.d}-d vectors, but the store holds {self.dim}-d; "
                "restore it from a backup"
            )
        count = len(self)
        if index.ntotal > count:
            # Written by an add that committed after this store read its manifest, or never
            # committed at all: drop the vectors this manifest does not list.
            try:
                index.remove_ids(faiss.IDSelectorRange(count, index.ntotal))
            except RuntimeError:  # HNSW cannot remove: rebuild its graph
                index.reset()
        self._add_rows(index, self.embeddings, index.ntotal, count)
        return index

    def _add_rows(self, index: faiss.Index, rows: np.ndarray, start: int, stop: int) -> None:
        for s in range(start, stop, _ADD_BATCH):
            index.add(self._for_index(rows[s : min(s + _ADD_BATCH, stop)], "vectors", s))

    def _for_index(self, X: np.ndarray, name: str, offset: int = 0) -> np.ndarray:
        """Rows as the index holds them: unit length for cosine (copied), as they are for l2."""
        if self.metric == "l2":
            return np.ascontiguousarray(X, dtype=np.float32)
        norms = _check_nonzero(X, name, offset)
        return np.ascontiguousarray(X / norms[:, None], dtype=np.float32)

    # ------------------------------------------------------------------ writing

    def add(
        self,
        embeddings: ArrayLike,
        metadata: MetadataLike = None,
        *,
        fingerprint: Fingerprint | Mapping[str, object] | None = None,
        skip_stored: str | Sequence[str] | None = None,
    ) -> np.ndarray:
        """Append vectors and their metadata; return their ids.

        Parameters
        ----------
        embeddings : array-like of shape (n, dim)
            Finite values; ``n = 0`` is a no-op returning no ids. For ``metric="cosine"``
            no row may be all zeros.
        metadata : DataFrame, list of dicts, dict of lists, or None
            ``n`` rows. New columns may appear in later adds; earlier rows hold nulls there.
        fingerprint : Fingerprint or dict, optional
            Identity of the backbone that made ``embeddings``; must equal the store's.
        skip_stored : str or sequence of str, optional
            Metadata column(s), e.g. ``"path"``: a row whose values there equal those of a
            row the store already holds is not added. Decided under the writer lock against
            the latest commit, so concurrent writers adding the same files store them once.

        Returns
        -------
        ids : ndarray of shape (n,), int64
            Consecutive, starting at the store's length before the add; -1 for the rows
            ``skip_stored`` left out.

        Raises
        ------
        StoreMismatchError
            Wrong dimension, or a fingerprint other than the store's.
        InvalidInputError
            Non-finite rows (listed), metadata with another row count or mixed-type columns.
        StoreError
            The store is read-only or a file cannot be written (the add is then not committed).
        """
        if self._mode != "a":
            raise StoreError(
                f"store at {self._path} was opened read-only; open it with "
                "FeatureStore.open(path, mode='a') to add vectors"
            )
        fp = as_fingerprint(fingerprint)
        X = check_embeddings(embeddings, "embeddings", min_samples=0)
        self._check_compatible(X.shape[1], fp)
        table = to_table(metadata, X.shape[0])
        keys = _key_columns(skip_stored, table)
        if self.metric == "cosine":
            _check_nonzero(X, "embeddings")  # before any file is touched
        if X.shape[0] == 0:
            return np.empty(0, dtype=np.int64)
        try:
            with exclusive_lock(self._path / LOCK):
                self.refresh()  # another process may have added since this store was read
                ids = np.full(X.shape[0], -1, dtype=np.int64)
                new = np.ones(X.shape[0], dtype=bool)
                if keys:
                    held = self._stored_keys(keys)
                    new = np.array([k not in held for k in table_keys(table, keys)], dtype=bool)
                    if not new.any():
                        return ids
                    if not new.all():
                        X, table = X[new], table.filter(pa.array(new))
                self._remove_leftovers()
                try:
                    ids[new] = self._append(X, table)
                    return ids
                except BaseException:
                    self._drop_caches()  # in-memory state may include the uncommitted rows
                    raise
        except OSError as e:
            raise StoreError(
                f"could not write to the store at {self._path}: {e}; reopen it to see what it holds"
            ) from e

    def _stored_keys(self, columns: tuple[str, ...]) -> set[tuple[object, ...]]:
        """The values of ``columns`` of every stored row (caller holds the lock, refreshed)."""
        parts = self._manifest.metadata_parts
        read, keys = self._keys.get(columns, ((), set()))
        if parts[: len(read)] != read:  # not an extension of what was read: start over
            read, keys = (), set()
        for name in parts[len(read) :]:
            keys.update(part_keys(self._path / METADATA_DIR / name, columns))
        self._keys[columns] = (parts, keys)
        return keys

    def _check_compatible(self, dim: int, fp: Fingerprint | None) -> None:
        if dim == self.dim and (fp is None or fp == self.fingerprint):
            return
        held = f"{self.dim}-d vectors " + (
            f"from {self.fingerprint.describe()}" if self.fingerprint else "without a fingerprint"
        )
        got = f"{dim}-d vectors" + (f" from {fp.describe()}" if fp else "")
        raise StoreMismatchError(
            f"store at {self._path} holds {held}; got {got}. Keep one store per backbone"
        )

    def _remove_leftovers(self) -> None:
        """Delete what an add killed before its commit left behind (caller holds the lock)."""
        for tmp in self._path.glob("*" + TMP_SUFFIX):
            tmp.unlink()
        listed = set(self._manifest.metadata_parts)
        for f in (self._path / METADATA_DIR).iterdir():
            if f.name.endswith(TMP_SUFFIX) or (is_part_name(f.name) and f.name not in listed):
                f.unlink()
        if self._manifest.index_count is None:
            (self._path / INDEX).unlink(missing_ok=True)

    def _append(self, X: np.ndarray, table: pa.Table) -> np.ndarray:
        old = self._manifest
        start, stop = old.count, old.count + X.shape[0]
        row_bytes = self.dim * VECTOR_DTYPE.itemsize
        sha = append_vectors(self._path / VECTORS, start, X)
        span = VectorSpan(start, stop, start * row_bytes, stop * row_bytes, sha)
        part = part_name(len(old.metadata_parts))
        part_sum = write_part(table, self._path / METADATA_DIR / part)
        ann = self._updated_ann_index(stop)
        index_sum: list[FileSum] = []
        if ann is not None:

            def write_index(tmp: Path) -> None:
                faiss.write_index(ann, str(tmp))
                index_sum.append(FileSum.of(tmp))

            write_atomic(self._path / INDEX, write_index)
        new = old.after_add(
            stop,
            part,
            stop if ann is not None else None,
            span=span,
            part_sum=(part_sum, table.num_rows),
            index_sum=index_sum[0] if index_sum else None,
        )
        write_manifest(self._path, new)
        # Committed: bring the in-memory state up to date without re-reading anything.
        exact = self._index if old.index_count is None else None
        self._manifest = new
        self._embeddings = None
        self._metadata = None
        self._device_index = None
        if ann is not None:
            self._index = ann
        elif exact is not None:
            self._add_rows(exact, X, 0, X.shape[0])
        return np.arange(start, stop, dtype=np.int64)

    def _updated_ann_index(self, stop: int) -> faiss.Index | None:
        """The ANN index covering the first ``stop`` vectors (already on disk), or None.

        None for ``"Flat"`` stores and for ANN stores too small to train yet.
        """
        rows = map_vectors(self._path / VECTORS, stop, self.dim)
        if self._manifest.index_count is not None:
            index = self.index
            self._add_rows(index, rows, index.ntotal, stop)
            return index
        index = build_index(self.dim, self.index_spec, "l2")
        if is_exact(index) or stop < recommended_training_points(index):
            return None
        if not index.is_trained:
            size = min(stop, MAX_TRAINING_POINTS_PER_CENTROID * min_training_points(index))
            sample = np.sort(np.random.default_rng(0).choice(stop, size=size, replace=False))
            train_index(index, self._for_index(rows[sample], "vectors"))
        self._add_rows(index, rows, 0, stop)
        return index

    # ------------------------------------------------------------------ checking

    def verify(self) -> list[str]:
        """Check every data file against the latest manifest: sizes, row counts and SHA-256.

        Reads everything once (the vector spans each add recorded, each metadata part, the
        index), so it costs one pass over the store. Run it while no writer adds: it takes
        the writer lock when it can.

        Returns
        -------
        notes : list of str
            What could not be checked (rows and parts written by an fmood that recorded no
            checksums); empty when everything was.

        Raises
        ------
        StoreCorruptError
            One line per problem, each naming the file; restore the store from a backup.
        """
        lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if os.access(self._path, os.W_OK):
            lock = exclusive_lock(self._path / LOCK)
        with lock:
            m = read_manifest(self._path)
            problems = _size_problems(self._path, m) or _hash_problems(self._path, m)
            if problems:
                raise StoreCorruptError("\n".join(problems))
            notes = _index_note(self._path, m)
        self._adopt(m)
        return _unchecked(self._path, m) + notes

    # ------------------------------------------------------------------ searching

    def nearest(
        self,
        queries: ArrayLike,
        k: int = 8,
        *,
        exclude_self: bool = False,
        batch_size: int = 4096,
        nprobe: int | None = None,
        ef_search: int | None = None,
    ) -> Neighbors:
        """The ``k`` nearest stored vectors of each query.

        Parameters
        ----------
        queries : array-like of shape (n_queries, dim)
        k : int
            At most ``len(self)`` (``len(self) - 1`` with ``exclude_self``).
        exclude_self : bool
            The queries are the store's own vectors in id order (``queries[i]`` is vector
            ``i``, e.g. ``store.embeddings``); each query's own id is left out of its
            neighbours (leave-one-out).
        batch_size : int
            Queries searched per FAISS call; bounds memory.
        nprobe, ef_search : int, optional
            IVF lists probed / HNSW search breadth, for a trained ANN index.

        Returns
        -------
        Neighbors
            ``distances`` (n_queries, k) float32 ascending, ``ids`` (n_queries, k) int64,
            and ``table()`` with the neighbours' metadata.

        Raises
        ------
        InvalidInputError
            Wrong query dimension, non-finite queries, an empty store, or ``k`` larger than
            the store.
        """
        k = check_positive_int(k, "k")
        batch_size = check_positive_int(batch_size, "batch_size")
        Q = check_embeddings(queries, "queries", dim=self.dim, min_samples=0)
        n_stored = len(self)
        if n_stored == 0:
            raise InvalidInputError(
                f"store at {self._path} is empty; add vectors before searching it"
            )
        if exclude_self and Q.shape[0] != n_stored:
            raise InvalidInputError(
                f"exclude_self=True needs the store's own {n_stored} vectors as queries, in id "
                f"order (e.g. store.embeddings); got {Q.shape[0]} queries"
            )
        wanted = k + 1 if exclude_self else k
        if wanted > n_stored:
            raise InvalidInputError(
                f"k={k} neighbours asked for, but the store at {self._path} holds only "
                f"{n_stored} vectors" + (" (one of them the query itself)" if exclude_self else "")
            )
        if self._manifest.index_count is None:
            nprobe = ef_search = None  # exact search: nothing to tune
        if self._device_index is None:
            self._device_index = to_device(self.index, self._device)
        n = Q.shape[0]
        squared = np.empty((n, wanted), dtype=np.float32)
        ids = np.empty((n, wanted), dtype=np.int64)
        for s in range(0, n, batch_size):
            chunk = self._for_index(Q[s : s + batch_size], "queries", s)
            squared[s : s + batch_size], ids[s : s + batch_size] = search(
                self._device_index,
                chunk,
                wanted,
                batch_size=batch_size,
                nprobe=nprobe,
                ef_search=ef_search,
            )
        distances = np.sqrt(np.maximum(squared, 0.0))
        distances[ids < 0] = np.inf
        if exclude_self:
            distances, ids = drop_self(distances, ids)
        return Neighbors(distances, ids, lambda: self.metadata)


def _check_nonzero(X: np.ndarray, name: str, offset: int = 0) -> np.ndarray:
    """Row norms of ``X`` (n, d); raise if a row is all zeros, which has no cosine distance."""
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        rows = ", ".join(str(offset + i) for i in zero[:10])
        raise InvalidInputError(
            f"{name} has {zero.size} all-zero row(s) ({rows}), which have no cosine distance; "
            "drop them or use a store with metric='l2'"
        )
    return norms


def _check_choice(value: object, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {allowed}, got {value!r}")


def _check_reusable(path: Path) -> None:
    """Refuse a file, or a directory holding anything but an interrupted create's leftovers."""
    if not path.exists():
        return
    if not path.is_dir():
        raise StoreError(
            f"cannot create a feature store at {path}: it is a file; choose a directory path"
        )
    names = set(os.listdir(path))
    vectors, meta = path / VECTORS, path / METADATA_DIR
    leftovers_only = (
        all(name in _CREATE_LEFTOVERS or name.endswith(TMP_SUFFIX) for name in names)
        and (not vectors.exists() or vectors.stat().st_size == 0)
        and (not meta.is_dir() or not any(meta.iterdir()))
    )
    if not leftovers_only:
        raise StoreError(
            f"cannot create a feature store at {path}: the directory is not empty and has no "
            f"{MANIFEST}; choose a new or empty directory"
        )


_RESTORE = "restore the store from a backup"


def _size_problems(path: Path, m: Manifest) -> list[str]:
    """What sizes and row counts say is wrong with the store's files (no data is read)."""
    manifest, vectors, meta = path / MANIFEST, path / VECTORS, path / METADATA_DIR
    try:
        check_vector_file(vectors, m.count, m.dim)
        rows = {p: part_rows(meta / p) for p in m.metadata_parts}
    except StoreCorruptError as e:
        return [str(e)]
    problems = []
    if sum(rows.values()) != m.count:
        problems.append(
            f"the metadata parts in {meta} hold {sum(rows.values())} rows, but {manifest} "
            f"lists {m.count} vectors; {_RESTORE}"
        )
    if m.index_count is not None and not (path / INDEX).is_file():
        problems.append(
            f"{path / INDEX} is missing, but {manifest} says it indexes {m.index_count} "
            f"vectors; restore it from a backup"
        )
    sums = m.checksums
    if sums is None:
        return problems
    row_bytes = m.dim * VECTOR_DTYPE.itemsize
    previous = sums.vectors[0].start if sums.vectors else m.count
    for span in sums.vectors:
        if span.start != previous or (span.byte_start, span.byte_stop) != (
            span.start * row_bytes,
            span.stop * row_bytes,
        ):
            problems.append(
                f"{vectors}: {manifest} says rows {span.start} to {span.stop} are bytes "
                f"{span.byte_start} to {span.byte_stop}, which does not fit {m.dim}-d float32 "
                f"rows following row {previous} (was dim or count edited?); {_RESTORE}"
            )
            break
        previous = span.stop
    if previous != m.count:
        problems.append(
            f"{vectors}: the adds {manifest} records end at row {previous}, but it lists "
            f"{m.count} vectors (was count edited?); {_RESTORE}"
        )
    for name in m.metadata_parts:
        recorded = sums.part(name)
        if recorded is None:
            continue
        total, n = recorded
        size = (meta / name).stat().st_size
        if (size, rows[name]) != (total.size, n):
            problems.append(
                f"{meta / name}: {size} bytes and {rows[name]} rows, but {manifest} recorded "
                f"{total.size} bytes and {n} rows for it (swapped or replaced?); {_RESTORE}"
            )
    # index.faiss is not checked by size: an add killed before its commit leaves a newer
    # one, which is valid (readers drop the vectors past index_count).
    return problems


def _hash_problems(path: Path, m: Manifest) -> list[str]:
    """Data whose SHA-256 differs from the one the manifest recorded (reads every file)."""
    sums = m.checksums
    if sums is None:
        return []
    problems = []
    for span in sums.vectors:
        if sha256_of(path / VECTORS, span.byte_start, span.byte_stop) != span.sha256:
            problems.append(
                f"{path / VECTORS}: rows {span.start} to {span.stop} do not match the sha256 "
                f"{path / MANIFEST} recorded when they were added; {_RESTORE}"
            )
    for name, total, _ in sums.parts:
        if name in m.metadata_parts and sha256_of(path / METADATA_DIR / name) != total.sha256:
            problems.append(
                f"{path / METADATA_DIR / name}: does not match the sha256 {path / MANIFEST} "
                f"recorded for it (swapped or edited?); {_RESTORE}"
            )
    return problems


def _index_note(path: Path, m: Manifest) -> list[str]:
    """Check ``index.faiss``: derived data, which an uncommitted add may have rewritten.

    A hash other than the recorded one is a problem only when the file is not an index of
    the store's dimension covering at least ``index_count`` vectors (which is what a killed
    add leaves); otherwise a note.
    """
    sums = m.checksums
    if m.index_count is None or sums is None or sums.index is None:
        return []
    if sha256_of(path / INDEX) == sums.index.sha256:
        return []
    try:
        index = faiss.read_index(str(path / INDEX))
        usable = index.d == m.dim and index.ntotal >= m.index_count
    except RuntimeError:
        usable = False
    if not usable:
        raise StoreCorruptError(
            f"{path / INDEX}: does not match the sha256 {path / MANIFEST} recorded for it and "
            f"is not an index of the store's {m.index_count} {m.dim}-d vectors; {_RESTORE}"
        )
    return [
        f"{path / INDEX} differs from the one {path / MANIFEST} recorded: an add that did "
        "not commit rewrote it (it holds the committed vectors; the next add replaces it), "
        "or it was replaced; it is derived data, so if no add was interrupted, rebuild it "
        "by copying the store's vectors into a new store"
    ]


def _unchecked(path: Path, m: Manifest) -> list[str]:
    """What :meth:`FeatureStore.verify` could only check by size."""
    sums = m.checksums
    if sums is None:
        return [
            f"{path / MANIFEST} records no checksums (written by an older fmood): sizes "
            "and row counts were checked, contents were not"
        ]
    notes = []
    first = sums.vectors[0].start if sums.vectors else m.count
    if first:
        notes.append(
            f"{path / VECTORS}: rows 0 to {first} have no checksum (added by an older "
            "fmood): their size was checked, their contents were not"
        )
    bare = [p for p in m.metadata_parts if sums.part(p) is None]
    if bare:
        notes.append(
            f"{len(bare)} metadata part(s) have no checksum (written by an older "
            f"fmood), e.g. {bare[0]}: their row counts were checked"
        )
    if m.index_count is not None and sums.index is None:
        notes.append(f"{path / INDEX} has no checksum (written by an older fmood)")
    return notes


def _key_columns(skip_stored: str | Sequence[str] | None, table: pa.Table) -> tuple[str, ...]:
    """``skip_stored`` as a tuple of column names, each present in ``table``."""
    if skip_stored is None:
        return ()
    columns = (skip_stored,) if isinstance(skip_stored, str) else tuple(skip_stored)
    missing = [c for c in columns if c not in table.column_names]
    if missing or not columns:
        raise InvalidInputError(
            f"skip_stored names column(s) {missing or columns!r} the metadata does not have; "
            f"it has {table.column_names}"
        )
    return columns
