"""Read ``.npy`` files without trusting their header, and without ever unpickling.

:func:`read_npy` parses the header itself (``numpy.lib.format``), checks it against the
file before anything is allocated, and returns the array loaded or memory-mapped;
:func:`open_npy` is the memory-mapped (n, d) form for callers that stream rows in chunks.

What is refused, with an :class:`~fmood.errors.InvalidInputError` naming the file:

* anything but a regular file (a device such as ``/dev/zero``, a FIFO, a directory);
* an empty file, an ``.npz`` archive, a missing or malformed NumPy header;
* a header whose shape x itemsize differs from the bytes that follow it (a forged shape
  would otherwise ask for terabytes, a truncated file would fail half-read);
* object dtypes (loading them would unpickle), structured and sub-array dtypes;
* complex numbers (a cast to real drops the imaginary part) and any dtype kind not
  allowed by the caller; by default only real numbers: bool, integers, floats.
  Bool and integers convert to float exactly up to 2**24; that float32 rounding is the
  same as any float64 input's, so they are accepted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import BinaryIO, Literal

import numpy as np
from numpy.lib import format as npy_format

from fmood._validation import REAL_KINDS
from fmood.errors import InvalidInputError
from fmood.io.image import open_regular

__all__ = ["REAL_KINDS", "TEXT_KINDS", "open_npy", "read_npy"]

#: dtype kinds of fixed-width text (per-sample labels and groups).
TEXT_KINDS = "US"
_KIND_NAMES = {
    "b": "bool",
    "i": "integers",
    "u": "unsigned integers",
    "f": "floats",
    "U": "unicode strings",
    "S": "byte strings",
}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class _Header:
    """What a ``.npy`` header declares.

    Attributes
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    fortran_order : bool
    offset : int
        Byte offset of the data in the file.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _parse_header(path: os.PathLike[str] | str, handle: BinaryIO, kinds: str) -> _Header:
    size = os.fstat(handle.fileno()).st_size
    if size == 0:
        raise InvalidInputError(f"cannot read {path}: the file is empty or truncated")
    head = handle.read(len(_ZIP_MAGIC))
    if head == _ZIP_MAGIC:
        raise InvalidInputError(
            f"cannot read {path}: it is an .npz archive; save a single array with np.save"
        )
    handle.seek(0)
    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(handle)
        else:
            raise InvalidInputError(
                f"cannot read {path}: .npy format version {version} is not read by fmood "
                "(1.0 and 2.0 are; np.save writes them for every numeric array)"
            )
    except InvalidInputError:
        raise
    except (ValueError, SyntaxError, TypeError, EOFError) as error:
        if size < 10:
            raise InvalidInputError(f"cannot read {path}: the file is empty or truncated") from None
        raise InvalidInputError(
            f"cannot read {path}: not a .npy file ({error}); save the array with numpy.save"
        ) from None
    if any(n < 0 for n in shape):
        raise InvalidInputError(f"cannot read {path}: its header declares a negative shape {shape}")
    _check_dtype(path, np.dtype(dtype), kinds)  # before the size: object data is a pickle
    shape = tuple(int(n) for n in shape)
    header = _Header(shape, np.dtype(dtype), bool(fortran_order), handle.tell())
    data = size - header.offset
    if data != header.nbytes:
        problem = "truncated" if data < header.nbytes else "longer than its header says"
        raise InvalidInputError(
            f"cannot read {path}: {problem}: its header declares shape {header.shape} of "
            f"{header.dtype} ({header.nbytes:,} bytes of data) but {data:,} bytes follow it"
        )
    return header


def _check_dtype(path: os.PathLike[str] | str, dtype: np.dtype, kinds: str) -> None:
    if dtype.hasobject:
        raise InvalidInputError(
            f"cannot read {path}: it holds Python objects, which only unpickling could read "
            "and fmood never unpickles; save a numeric array"
        )
    if dtype.names is not None or dtype.subdtype is not None:
        raise InvalidInputError(
            f"cannot read {path}: it holds a structured array ({dtype}); save one plain "
            "numeric array"
        )
    if dtype.kind == "c":
        raise InvalidInputError(
            f"cannot read {path}: it holds complex numbers ({dtype}), which fmood does not cast "
            "to real (the imaginary part would be lost); save np.real(x), np.abs(x) or both "
            "parts as features"
        )
    if dtype.kind not in kinds:
        allowed = ", ".join(_KIND_NAMES[k] for k in kinds)
        raise InvalidInputError(
            f"cannot read {path}: dtype {dtype} is not accepted; it must be numeric: real "
            f"numbers ({allowed})"
        )


def read_npy(
    path: str | os.PathLike[str],
    *,
    kinds: str = REAL_KINDS,
    ndim: int | None = None,
    mmap: bool = False,
) -> np.ndarray:
    """The array in ``.npy`` file ``path``, after checking its header against the file.

    Parameters
    ----------
    path : str or PathLike
    kinds : str
        Accepted dtype kinds (``numpy.dtype.kind``); :data:`REAL_KINDS` by default, add
        :data:`TEXT_KINDS` for labels. Complex, object and structured are always refused.
    ndim : int or None
        The number of axes required, if any.
    mmap : bool
        Return a read-only ``numpy.memmap`` (nothing read until used) instead of loading.

    Returns
    -------
    ndarray of the shape and dtype of the header
        Values are not checked (NaN, inf): that is the caller's, chunk by chunk if it streams.

    Raises
    ------
    FileNotFoundError, InvalidInputError
        See the module docstring.
    """
    with open_regular(path) as handle:
        header = _parse_header(path, handle, kinds)
        if ndim is not None and len(header.shape) != ndim:
            raise InvalidInputError(
                f"cannot read {path}: the array must be {ndim}-D"
                + (" (n, dim)" if ndim == 2 else "")
                + f", got shape {header.shape}"
            )
        order: Literal["C", "F"] = "F" if header.fortran_order else "C"
        if header.nbytes == 0:
            return np.empty(header.shape, dtype=header.dtype, order=order)
        if mmap:
            return np.memmap(
                handle,
                dtype=header.dtype,
                mode="r",
                shape=header.shape,
                order=order,
                offset=header.offset,
            )
        flat = np.empty(math.prod(header.shape), dtype=header.dtype)
        if handle.readinto(flat.view(np.uint8).data) != header.nbytes:
            raise InvalidInputError(f"cannot read {path}: the file shrank while it was read")
    return flat.reshape(header.shape, order=order)


def open_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """The (n, d) real array of ``path`` memory-mapped read-only, for reading in chunks.

    The header is checked (2-D, d >= 1, real dtype, size matching the file); values are
    not: convert and check each chunk, e.g. ``check_embeddings(X[i:j], ...)``.

    Returns
    -------
    numpy.memmap of shape (n, d)
        In the file's dtype (bool, integer or float); a plain empty array when n == 0.
    """
    array = read_npy(path, ndim=2, mmap=True)
    if array.shape[1] == 0:
        raise InvalidInputError(
            f"cannot read {path}: the vectors have 0 dimensions, shape {array.shape}"
        )
    return array
