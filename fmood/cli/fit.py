"""``fmood fit``: fit an OOD detector on reference embeddings and save it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from fmood.cli.choices import CALIBRATIONS, DEFAULT_SCORER_NAMES
from fmood.cli.outputs import check_writable
from fmood.errors import InvalidInputError

if TYPE_CHECKING:
    from fmood.calibration.detector import OODDetector
    from fmood.cli.inputs import EmbeddingSource

HELP = "fit an OOD detector on in-distribution reference embeddings"
DESCRIPTION = """\
Fit an OODDetector on in-distribution reference embeddings and save it.

reads:  REFERENCE, a .npy file of shape (n, d) or a feature store directory
writes: DETECTOR_DIR (detector.json + arrays.npz), read by 'fmood score';
        it must be new, empty or an earlier detector holding nothing else

--scorers takes comma-separated scorer names (default: {default});
parameters follow a name after colons, values read as int, float, true/false,
none, or text:
  --scorers knn:k=10:aggregate=mean,mahalanobis:shrinkage=oas
An unknown scorer or parameter is reported with the ones that exist.

--calibration: "cross" (default) cuts the reference into --folds folds; each
fold is scored by scorers fitted on the others, so every image both fits and
calibrates, and a new image gets the mean score of the fold models; "cv+"
compares each fold model with its own fold (CV+); "split" fits on
1 - --calibration-fraction and calibrates on the rest (exact split-conformal).

Per-sample groups (patient ids: the calibration split never cuts one),
domains (site or scanner: calibration per domain) and class labels come from
a store's metadata (--groups-column patient) or from a 1-D .npy array
(--groups patients.npy).""".format(default=",".join(DEFAULT_SCORER_NAMES))
EXAMPLE = """\
examples:
  fmood fit reference.npy --out detector/
  fmood fit reference_store/ --out detector/ --groups-column patient --domains-column site"""


def register(commands: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``fit`` subcommand to ``commands``."""
    p = commands.add_parser(
        "fit",
        parents=parents,
        help=HELP,
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", metavar="REFERENCE", help=".npy file or feature store directory")
    p.add_argument("--out", required=True, metavar="DETECTOR_DIR", help="directory to save to")
    p.add_argument("--scorers", metavar="SPEC", help="scorers and their parameters (see above)")
    p.add_argument(
        "--calibration",
        choices=CALIBRATIONS,
        default=CALIBRATIONS[0],
        help=f"how the reference is split to calibrate (default: {CALIBRATIONS[0]})",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=5,
        metavar="K",
        help="folds of cross / cv+ calibration (default: 5)",
    )
    p.add_argument(
        "--calibration-fraction",
        type=float,
        default=0.3,
        metavar="F",
        help="with --calibration split: share held out to calibrate (default: 0.3)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the split (default: 0)")
    for stem, what in (
        ("groups", "patient/volume ids"),
        ("domains", "sites or scanners"),
        ("labels", "class labels"),
    ):
        p.add_argument(f"--{stem}-column", metavar="COLUMN", help=f"store metadata column: {what}")
        p.add_argument(f"--{stem}", metavar="FILE.npy", help=f"1-D .npy array: {what}")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Fit, save, and print a summary paragraph."""
    from fmood.calibration.detector import OODDetector
    from fmood.cli.inputs import load_source, per_sample
    from fmood.utils.atomic import check_replaceable_directory

    inputs = (args.reference, args.groups, args.domains, args.labels)
    out = check_writable(args.out, "--out", directory=True, inputs=inputs)
    check_replaceable_directory(out)  # before fitting: save() would refuse it only after
    scorers = None if args.scorers is None else parse_scorers(args.scorers)
    source = load_source(args.reference)
    groups, domains, labels = (
        per_sample(
            source, column=getattr(args, f"{stem}_column"), file=getattr(args, stem), option=stem
        )
        for stem in ("groups", "domains", "labels")
    )
    detector = OODDetector(
        scorers=scorers,
        calibration=args.calibration,
        n_folds=args.folds,
        calibration_fraction=args.calibration_fraction,
        random_state=args.seed,
    )
    detector.fit(source.embeddings, y=labels, groups=groups, domains=domains)
    detector.save(out)
    print(summary(detector, source, out=str(out), grouped=groups is not None))


def parse_scorers(text: str) -> list[str | tuple[str, dict[str, Any]]]:
    """``"knn:k=10,mahalanobis"`` -> ``[("knn", {"k": 10}), "mahalanobis"]``, names checked."""
    specs: list[str | tuple[str, dict[str, Any]]] = []
    for item in text.split(","):
        name, *assignments = (part.strip() for part in item.split(":"))
        params = {}
        for assignment in assignments:
            key, sep, value = assignment.partition("=")
            if not sep or not key.strip():
                raise InvalidInputError(
                    f"--scorers: expected key=value after {name!r}, got {assignment!r} "
                    "(e.g. knn:k=10)"
                )
            params[key.strip()] = parse_value(value.strip())
        _check_scorer(name, params)
        specs.append((name, params) if params else name)
    return specs


def parse_value(text: str) -> Any:
    """A parameter value: int, float, bool (true/false), None (none/null), else the text."""
    lowered = text.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _check_scorer(name: str, params: dict[str, Any]) -> None:
    from fmood.scorers import get_scorer

    known = get_scorer(name).get_params()  # an unknown name lists the available ones
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidInputError(
            f"scorer {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters: {', '.join(known)}"
        )


def summary(detector: OODDetector, source: EmbeddingSource, *, out: str, grouped: bool) -> str:
    """One paragraph: what was fitted on what, how it was calibrated, where it went."""
    import numpy as np

    from fmood.sanitize import printable

    n, d = source.embeddings.shape
    n_cal = detector.calibration_scores_.shape[0]
    cut = "by whole groups" if grouped else "at random"
    text = (
        f"Fitted an OOD detector on {n} reference embeddings ({d}-d) from "
        f"{printable(source.path)}: scorers {', '.join(detector.scorer_names_)} "
    )
    if detector.calibration == "split":
        text += (
            f"fitted on {n - n_cal}, calibrated on {n_cal} held out {cut} "
            f"(seed {detector.random_state}). "
        )
    else:
        folds = int(detector.calibration_folds_.max()) + 1
        text += (
            f"cross-fitted in {folds} folds cut {cut} ({detector.calibration}; every image "
            f"fits and calibrates; seed {detector.random_state}). "
        )
    if detector.small_reference_:
        text += (
            f"Small reference: {detector.calibration_size_} calibration images in "
            f"{detector.calibration_groups_} group(s), so no p-value goes below "
            f"{detector.min_pvalue_:.2g}; add images from more patients for finer evidence. "
        )
    if detector.domains_ is None:
        text += "No domains: one pooled calibration. "
    else:
        counts = np.bincount(detector.calibration_domain_codes_, minlength=len(detector.domains_))
        own = int((counts >= detector.min_domain_calibration).sum())
        text += (
            f"{len(detector.domains_)} domains ({', '.join(map(printable, detector.domains_))}), "
            f"{own} of them with a calibration of their own (at least "
            f"{detector.min_domain_calibration} calibration samples), the others pooled. "
        )
    shown = printable(out)
    return text + (
        f"Saved to {shown}; score new embeddings with: "
        f"fmood score --detector {shown} TARGET --out scores.csv"
    )
