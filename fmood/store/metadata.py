"""Per-image metadata: validated into Arrow tables, one parquet part per add."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fmood.errors import InvalidInputError, StoreCorruptError
from fmood.store.manifest import FileSum
from fmood.utils.atomic import write_atomic

PATH_COLUMN = "path"

MetadataLike: TypeAlias = (
    pd.DataFrame | Sequence[Mapping[str, object]] | Mapping[str, Sequence[object]] | None
)


def to_table(metadata: MetadataLike, n: int) -> pa.Table:
    """Validate ``metadata`` for ``n`` vectors and convert it to an Arrow table.

    Parameters
    ----------
    metadata : DataFrame, list of dicts, dict of lists, or None
        One row per vector (a DataFrame's index is ignored). None gives a ``path``
        column of nulls; a ``path`` column is added likewise when absent.
    n : int
        Number of vectors being added.

    Raises
    ------
    InvalidInputError
        Wrong row count, non-string or duplicate column names, or a column whose values
        have no common type (e.g. ints mixed with strings).
    """
    if metadata is None:
        frame = pd.DataFrame(index=range(n))
    elif isinstance(metadata, pd.DataFrame):
        frame = metadata.reset_index(drop=True)
    elif isinstance(metadata, Mapping):
        frame = _frame(lambda: pd.DataFrame(dict(metadata)))
    elif isinstance(metadata, Sequence) and not isinstance(metadata, (str, bytes)):
        if not all(isinstance(row, Mapping) for row in metadata):
            raise InvalidInputError("metadata given as a list must hold one dict per vector")
        rows = list(metadata)
        frame = _frame(lambda: pd.DataFrame.from_records(rows, index=range(len(rows))))
    else:
        raise InvalidInputError(
            f"metadata must be a DataFrame, a list of dicts, a dict of lists or None, "
            f"got {type(metadata).__name__}"
        )
    if len(frame) != n:
        raise InvalidInputError(f"metadata has {len(frame)} rows but {n} vectors were given")
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise InvalidInputError(f"metadata column names must be strings, got {bad}")
    if frame.columns.has_duplicates:
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InvalidInputError(f"metadata has duplicate column names {dup}")
    if PATH_COLUMN not in frame.columns:
        frame.insert(0, PATH_COLUMN, pd.Series([None] * n, dtype=object))
    elif frame[PATH_COLUMN].dtype == object:
        # pathlib.Path is the natural thing to pass, but parquet has no type for it.
        frame[PATH_COLUMN] = frame[PATH_COLUMN].map(
            lambda p: os.fspath(p) if isinstance(p, os.PathLike) else p
        )
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise InvalidInputError(
            f"metadata cannot be stored: {e}; give each column values of one type"
        ) from e


def _frame(build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    try:
        return build()
    except (ValueError, TypeError) as e:
        raise InvalidInputError(f"metadata cannot be read as a table: {e}") from e


def write_part(table: pa.Table, path: Path) -> FileSum:
    """Write one metadata part atomically (temporary name, fsync, rename); return its checksum."""
    written: list[FileSum] = []

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)
        written.append(FileSum.of(tmp))

    write_atomic(path, write)
    return written[0]


def part_keys(path: Path, columns: Sequence[str]) -> list[tuple[object, ...]]:
    """The values of ``columns`` in each row of a part, as tuples; a column it lacks is None."""
    with _reading_part(path):
        names = pq.read_schema(path).names
        present = [c for c in columns if c in names]
        table = pq.read_table(path, columns=present)
    n = table.num_rows
    values = [table.column(c).to_pylist() if c in present else [None] * n for c in columns]
    return list(zip(*values, strict=False)) if values else [()] * n


def table_keys(table: pa.Table, columns: Sequence[str]) -> list[tuple[object, ...]]:
    """Like :func:`part_keys`, for a table about to be added (which has every column)."""
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=False))


@contextmanager
def _reading_part(path: Path) -> Iterator[None]:
    """Turn a missing or unreadable metadata part into :class:`StoreCorruptError`."""
    try:
        yield
    except FileNotFoundError:
        raise StoreCorruptError(
            f"metadata part {path} listed in the manifest is missing; restore it from a backup"
        ) from None
    except (OSError, pa.ArrowException) as e:
        raise StoreCorruptError(
            f"metadata part {path} is unreadable ({e}); restore it from a backup"
        ) from e


def part_rows(path: Path) -> int:
    """Row count of a part from its parquet footer, without reading the data."""
    with _reading_part(path):
        return pq.read_metadata(path).num_rows


def read_part(path: Path) -> pd.DataFrame:
    """One part as a DataFrame; nullable dtypes keep integer columns integer when rows lack them."""
    with _reading_part(path):
        return pd.read_parquet(path, dtype_backend="numpy_nullable")


def concat_parts(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack parts into one frame indexed by vector id (0..n-1, named ``id``).

    Columns missing from a part become null; a column whose type differs between parts
    becomes ``object``.
    """
    if not frames:
        frame = pd.DataFrame({PATH_COLUMN: pd.Series([], dtype=object)})
    else:
        frame = pd.concat(frames, ignore_index=True)
    frame.index = pd.RangeIndex(len(frame), name="id")
    return frame
