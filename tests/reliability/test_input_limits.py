"""Inputs that are small on disk but huge once decoded, or that never end, or that lie.

Peak memory is measured in a fresh interpreter (its VmHWM, or ``resource.getrusage`` where
there is no /proc), so what the test process holds does not count.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import threading
import zlib

import nibabel as nib
import numpy as np
import pytest

from fmood.cli.inputs import load_source
from fmood.errors import InvalidInputError
from fmood.io.dataset import file_sha256
from fmood.io.image import MAX_PIXELS

GIB = 2**30
SHAPE = (1024, 1024, 100)  # 105 M voxels: 4 MB as .nii.gz, 2.7 GB peak when read whole as float64
BLOB = range(40, 60)


def _sparse_nifti(path) -> None:
    """A uint8 volume of zeros with a noisy square in slices ``BLOB``, streamed to gzip."""
    header = nib.Nifti1Header()
    header.set_data_shape(SHAPE)
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    plane = np.zeros(SHAPE[:2], dtype=np.uint8)
    noise = np.random.default_rng(0).integers(1, 255, (256, 256), dtype=np.uint8)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header.binaryblock + b"\0" * 4)
        for z in range(SHAPE[2]):
            plane[300:556, 300:556] = noise if z in BLOB else 0
            out.write(plane.tobytes(order="F"))


def _flat_png(path, side: int) -> None:
    """A side x side grey PNG of zeros, compressed row by row (never held decoded)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    compressor = zlib.compressobj(1)
    row = bytes(side + 1)  # filter byte + one zero byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    path.write_bytes(png)


_PEAK = """
def _peak():
    try:  # VmHWM: this process's own high-water mark; ru_maxrss also counts the parent's
        with open("/proc/self/status") as status:  # peak, inherited through fork and exec
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""


def _peak_rss(code: str) -> dict:
    """Run ``code`` (which sets ``result``) in a fresh interpreter: its result and peak RSS."""
    script = f"import json, resource\n{_PEAK}\n{code}\n"
    script += "print(json.dumps({'result': result, 'peak': _peak()}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_big_sparse_nifti_is_read_slice_by_slice(tmp_path):
    path = tmp_path / "sparse.nii.gz"
    _sparse_nifti(path)
    assert path.stat().st_size < 8 * 2**20
    run = _peak_rss(
        f"from fmood.io import read_nifti\nresult = [i.frame for i in read_nifti({str(path)!r})]"
    )
    assert run["result"] == list(BLOB)
    assert run["peak"] < GIB, f"peak RSS {run['peak'] / 2**20:.0f} MiB"


def test_png_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.png"
    _flat_png(path, 13000)  # 169 M pixels in about 0.2 MB
    run = _peak_rss(
        "from fmood.io import read_image\n"
        f"try:\n    read_image({str(path)!r})\n    result = 'read'\n"
        "except ValueError as error:\n    result = str(error)\n"
    )
    assert "bomb.png: image of 13000 x 13000 = 169,000,000 pixels" in run["result"]
    assert f"max_pixels = {MAX_PIXELS:,}" in run["result"] and "--max-pixels" in run["result"]
    assert run["peak"] < GIB, f"peak RSS {run['peak'] / 2**20:.0f} MiB"


def _finishes(function, *args, seconds: float = 10.0):
    """``function(*args)``'s exception (None if it returned); fails if it runs past ``seconds``."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            function(*args)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"{function.__name__}{args} still running after {seconds} s"
    return outcome[0]


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory"])
def test_hashing_refuses_what_is_not_a_regular_file(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path
    else:
        path = kind
    error = _finishes(file_sha256, path)
    assert isinstance(error, InvalidInputError)
    assert str(error).startswith(f"{path}: is a ") and "not a regular file" in str(error)


def test_hashing_has_a_size_cap(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(3 * 2**20))
    message = r"big.bin: 3,145,728 bytes, more than the 2,097,152 .*MAX_HASH_BYTES"
    with pytest.raises(InvalidInputError, match=message):
        file_sha256(path, max_bytes=2 * 2**20)
    monkeypatch.setattr("fmood.io.dataset.MAX_HASH_BYTES", 2**20)
    with pytest.raises(InvalidInputError, match="more than the 1,048,576"):
        file_sha256(path)


def _forged_npy(path, shape) -> None:
    """A .npy whose header declares ``shape`` of float32 but that holds 16 bytes of data."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(bytes(16))


def test_forged_npy_header_is_refused_before_allocating(tmp_path):
    path = tmp_path / "forged.npy"
    _forged_npy(path, (10**12, 1024))
    message = r"forged.npy: truncated: .*shape \(1000000000000, 1024\).* 16 bytes follow"
    with pytest.raises(InvalidInputError, match=message):
        load_source(path)
    with pytest.raises(InvalidInputError, match="truncated"):
        load_source(path, mmap=True)


def test_complex_npy_is_refused_not_cast(tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, (np.ones((3, 2)) + 1j).astype(np.complex64))
    message = "complex.npy: it holds complex numbers .*imaginary part"
    with pytest.raises(InvalidInputError, match=message):
        load_source(path)
