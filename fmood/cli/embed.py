"""``fmood embed``: embed a folder or manifest of images into a feature store."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fmood.cli.choices import CT_WINDOW_NAMES, FREE_TEXT_MODES, IDENTIFIABLE_PIXELS_MODES
from fmood.cli.outputs import check_writable
from fmood.errors import InvalidInputError

if TYPE_CHECKING:
    from fmood.embed import EmbedSummary

# fmood.io, fmood.backbones and fmood.embed import numpy, pydicom and torch (seconds):
# imported when this command runs, so that the parser (every --help) starts without them.
PRECOMPUTED = "precomputed"

HELP = "embed a folder or CSV manifest of images into a feature store"
DESCRIPTION = f"""\
Embed every image of a dataset with a frozen backbone into a feature store,
with its metadata, resuming where an earlier run stopped.

reads:  --data, a folder (searched recursively for PNG, JPEG, TIFF, DICOM
        with or without suffix, NIfTI) or a CSV manifest with a 'path' column
        (relative to the CSV) and metadata columns (site, label, patient...)
writes: --store, a feature store directory (created when missing; an existing
        one must hold vectors of the same backbone, weights and preprocessing).
        Per vector: path, frame (frame/page/slice index), file_sha256, the
        manifest's columns and technical DICOM fields (never patient ones).
        With --no-paths the store holds "sha256:" and a SHA-256 of each
        file's absolute path instead of the path, so the store does not give
        away file names (a hash still confirms a guessed name); resuming
        matches the hashes, and a store keeps the mode it was begun with.
        --failures (default: STORE.failures.csv beside the store): the files
        that could not be read, with the reason (names escaped); replaced each
        run. It names files even with --no-paths: keep it where the data is.
prints: a summary: images embedded, files skipped and failed, images/s.

Files already in the store are skipped (a file whose bytes changed since is
reported as a failure, not embedded twice); two runs on one store at once add
each file once. Each file's vectors are committed together, so an interrupted
run loses at most the files not yet committed and a rerun finishes the store
exactly; 'fmood store verify STORE' checks a store's files against their
recorded checksums. Unreadable files do not stop the run
unless --strict; the exit code is 2 when no file of the dataset could be
embedded (and none was already in the store), 0 otherwise.

Backbones: efficientnet-lite0, litemedsam, medsam, dinov2-small/base/large/giant,
biomedclip, timm:<model> (an unknown name is answered with the full list).
--layers and --pooling go to the backbones that take them.
Precomputed embeddings: --backbone precomputed[:NAME] --weights VECTORS.npy
--data MANIFEST.csv adds an (n, d) array whose row i is the manifest's row i.

Reading: --window for DICOM, a CT preset or CENTER,WIDTH in HU (default: the
file's own window; write a negative center as --window=-600,1500); presets:
{", ".join(CT_WINDOW_NAMES)}.
--axis, --stride, --max-slices for NIfTI volumes: the slice axis, every K-th
slice, at most N evenly spaced. DICOM privacy: free text that is not a known
code, vendor or model is stored as a short hash (--free-text), and files marked
BurnedInAnnotation or RecognizableVisualFeatures are skipped (--identifiable-pixels
embed takes them, never showing their pixels). Each option reaches only the files it applies
to, and is recorded per vector (voi, axis). Files already in the store are
skipped whatever the options: to embed with other ones, use a new store."""
EXAMPLE = """\
examples:
  fmood embed --backbone efficientnet-lite0 --data scans/ --store stores/site_a
  fmood embed --backbone litemedsam --data manifest.csv --store stores/ct \\
      --window lung --max-slices 40 --layers 2,4
  fmood embed --backbone precomputed:biomedclip --weights vectors.npy \\
      --data manifest.csv --store stores/biomedclip"""

_READ_FLAGS = {
    "window": "--window",
    "axis": "--axis",
    "stride": "--stride",
    "max_slices": "--max-slices",
    "free_text": "--free-text",
    "identifiable_pixels": "--identifiable-pixels",
    "max_pixels": "--max-pixels",
}
_BACKBONE_FLAGS = {"layers": "--layers", "pooling": "--pooling"}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def parse_window(text: str) -> str | tuple[float, float]:
    """``"lung"`` -> ``"lung"``; ``"-600,1500"`` -> ``(-600.0, 1500.0)``."""
    text = text.strip()
    if text in CT_WINDOW_NAMES:
        return text
    parts = text.split(",")
    try:
        center, width = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a preset ({', '.join(CT_WINDOW_NAMES)}) or CENTER,WIDTH, got {text!r}"
        ) from None
    if not width > 0:
        raise argparse.ArgumentTypeError(f"window width must be > 0, got {width:g}")
    return center, width


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``embed`` subcommand to ``commands``."""
    p = commands.add_parser(
        "embed",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--backbone",
        required=True,
        metavar="NAME",
        help="backbone name, timm:<model>, or precomputed[:NAME]",
    )
    p.add_argument(
        "--weights",
        metavar="PATH",
        help="local weights (or hub id); for precomputed, the .npy of vectors",
    )
    p.add_argument("--data", required=True, metavar="PATH_OR_CSV", help="folder or CSV manifest")
    p.add_argument("--store", required=True, metavar="DIR", help="feature store directory")
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=32,
        metavar="N",
        help="images per forward pass (default: 32)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available), cpu or cuda[:N] (default: auto)",
    )
    p.add_argument(
        "--workers",
        type=_non_negative,
        metavar="N",
        help="decoding processes; 0 decodes in this one (default: min(4, CPUs - 1))",
    )
    p.add_argument(
        "--strict", action="store_true", help="stop at the first file that cannot be embedded"
    )
    p.add_argument(
        "--failures", metavar="CSV", help="where to list failed files (default: beside the store)"
    )
    p.add_argument(
        "--no-paths",
        action="store_true",
        help="store a SHA-256 of each file's path instead of the path",
    )
    p.add_argument(
        "--layers",
        metavar="I,J,...",
        help="also take these intermediate layers (1-based; negative from the end)",
    )
    p.add_argument(
        "--pooling", choices=("cls", "mean", "cls+mean"), help="token pooling of ViT backbones"
    )
    add_read_options(p)
    add_quiet(p)
    p.set_defaults(run=run)


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet`` (old name ``--no-progress``): no progress lines on stderr."""
    p.add_argument(
        "-q",
        "--quiet",
        "--no-progress",
        dest="quiet",
        action="store_true",
        help="no progress lines (by default: one line per stage on stderr, "
        "redrawn on a terminal, else every 10 s or 5%%)",
    )


def add_read_options(p: argparse.ArgumentParser) -> None:
    """The options of the image readers (DICOM window, NIfTI slicing)."""
    p.add_argument(
        "--window",
        type=parse_window,
        metavar="NAME|C,W",
        help="DICOM VOI window: CT preset or center,width",
    )
    p.add_argument("--axis", type=int, choices=(0, 1, 2), help="NIfTI slice axis (default: 2)")
    p.add_argument("--stride", type=_positive, metavar="K", help="NIfTI: every K-th slice")
    p.add_argument(
        "--max-slices",
        type=_positive,
        metavar="N",
        help="NIfTI: at most N slices per volume, evenly spaced",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive,
        metavar="N",
        help="refuse an image (a raster, a frame, a slice) of more than N pixels "
        "before decoding (default: 2**26 = 8192 x 8192)",
    )
    p.add_argument(
        "--free-text",
        choices=FREE_TEXT_MODES,
        help="DICOM text that is not a known code, vendor or model: hash (default), "
        "drop, or keep as written (trusted de-identified data only)",
    )
    p.add_argument(
        "--identifiable-pixels",
        choices=IDENTIFIABLE_PIXELS_MODES,
        help="DICOM files marked BurnedInAnnotation/RecognizableVisualFeatures: skip "
        "(default, listed as failures) or embed (never shown in reports)",
    )


def read_options_from(args: argparse.Namespace) -> dict[str, Any]:
    """The reader options given on the command line, by reader keyword."""
    return _given(args, _READ_FLAGS)


def _given(args: argparse.Namespace, flags: dict[str, str]) -> dict[str, Any]:
    return {key: getattr(args, key) for key in flags if getattr(args, key) is not None}


def run(args: argparse.Namespace) -> None:
    """Embed, then print the summary; exit 2 when no file at all could be embedded."""
    store = check_writable(args.store, "--store", directory=True)
    if args.failures is not None:
        check_writable(args.failures, "--failures")
    read_options = read_options_from(args)
    options = _given(args, _BACKBONE_FLAGS)
    name = args.backbone
    if name == PRECOMPUTED or name.startswith(PRECOMPUTED + ":"):
        summary = _precomputed(args, name, read_options, options)
    else:
        from fmood.backbones import load
        from fmood.embed import embed_dataset
        from fmood.io.dataset import list_dataset

        records = list_dataset(args.data)  # dataset errors before a model is loaded
        backbone = load(name, weights=args.weights, device=args.device, **options)
        summary = embed_dataset(
            backbone,
            records,
            store,
            batch_size=args.batch_size,
            num_workers=args.workers,
            strict=args.strict,
            progress=not args.quiet,
            read_options=read_options,
            failures_path=args.failures,
            store_paths=not args.no_paths,
        )
    if summary.n_failed_files and not summary.n_embedded_files and not summary.n_skipped_files:
        first = summary.failures["error"].iloc[0]
        raise InvalidInputError(
            f"no file could be embedded: all {summary.n_failed_files} file(s) to embed failed "
            f"(first: {first}); every failure is listed in {summary.failures_path}"
        )
    print(summary)


def _precomputed(
    args: argparse.Namespace, name: str, read_options: dict[str, Any], options: dict[str, Any]
) -> EmbedSummary:
    unused = [_READ_FLAGS[k] for k in read_options] + [_BACKBONE_FLAGS[k] for k in options]
    unused += [
        flag
        for flag, given in (
            ("--strict", args.strict),
            ("--failures", args.failures),
            ("--workers", args.workers),
            ("--no-paths", args.no_paths),
        )
        if given
    ]
    if unused:
        raise InvalidInputError(
            f"{', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to "
            "precomputed embeddings (nothing is read or embedded)"
        )
    if args.weights is None:
        raise InvalidInputError(
            "--backbone precomputed needs --weights VECTORS.npy (the (n, d) array) and "
            "--data MANIFEST.csv (row i describes vector i)"
        )
    from fmood.embed import embed_precomputed

    label = name.partition(":")[2] or PRECOMPUTED
    return embed_precomputed(args.weights, args.data, args.store, label, progress=not args.quiet)
