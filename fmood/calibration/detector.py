"""OODDetector: raw scores -> calibrated p-values -> a continuous OOD degree, with flags."""
from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

import fmood
from fmood._validation import (
    check_embeddings,
    check_is_fitted,
    check_per_sample,
    check_positive_int,
)
from fmood.calibration.combine import benjamini_hochberg, cauchy_statistic
from fmood.calibration.conformal import ConformalCalibrator
from fmood.calibration.split import calibration_split
from fmood.errors import InvalidInputError, StoreCorruptError, StoreVersionError
from fmood.scorers.base import (
    FEATURES,
    BaseScorer,
    StateSpec,
    check_params,
    check_state,
    construct,
    get_scorer,
    l2_normalize,
)
from fmood.store.atomic import staged_directory, write_atomic, write_bytes_atomic
from fmood.store.index import build_index, search, train_and_add

ScorerSpec = str | BaseScorer | tuple[str, dict[str, Any]]

#: The default scorers; see :class:`OODDetector` for why these.
DEFAULT_SCORERS: tuple[ScorerSpec, ...] = ("mahalanobis", "residual")
#: 2: Mahalanobis and residual states may be in the Gram form (``basis_``, ``principal_``),
#: which fmood before it cannot read; version 1 files still load.
FORMAT_VERSION = 2
_POOLED = "__pooled__"
#: What a damaged or edited detector file needs.
_FIX = "the detector files are damaged or were edited; re-fit the detector and save it again"


class OODDetector:
    """Calibrated, continuous OOD degree on top of one or several raw scorers.

    ``fit`` holds out a calibration part of the in-distribution reference (group-aware: every
    sample of one patient, volume or site stays on one side), fits the scorers on the rest and
    records their scores on the calibration part. For a new image:

    - ``pvalues``: a conformal p-value per scorer (tail-extended beyond the calibration range,
      see :class:`~fmood.calibration.conformal.ConformalCalibrator`), then one combined p-value:
      the scorers' p-values are merged with the Cauchy combination statistic, and that statistic
      is itself calibrated conformally (leave-one-out on the calibration part), so the combined
      p-value is valid whatever the dependence between scorers.
    - ``degree = 1 - p_combined``: "more atypical than this fraction of the reference". A degree
      of 0.999 means about one reference image in 1,000 looks this unusual. Above the largest
      calibration score the degree comes from the fitted tail and keeps ranking images;
      ``surprise = -log10(p_combined)`` carries that ranking where the degree rounds to 1.
    - ``flag``: Benjamini-Hochberg at false-discovery rate ``alpha`` across the images scored
      together.

    With ``domains`` (site or scanner of each reference sample) the calibration is
    group-conditional: each image is assigned the reference domain most common among its
    nearest reference neighbours and gets p-values against that domain's calibration scores, so
    benign site-to-site variation inside the reference is not flagged. Domains with fewer than
    ``min_domain_calibration`` calibration samples use the pooled calibration; after ``fit``,
    ``domain_calibration_`` maps each domain to "own" or "pooled".

    Parameters
    ----------
    scorers : sequence of scorer name, scorer instance or (name, params), optional
        Defaults to ``("mahalanobis", "residual")``: the two halves of a feature space, the
        Gaussian shape inside the principal subspace (label-free Mahalanobis, Ledoit-Wolf
        shrinkage) and the energy outside it (ViM's residual, the leader of OpenMIBOOD's
        near-OOD table). Both are label-free and fast. Chosen with
        ``benchmarks/choose_default.py`` (synthetic multi-site shifts, 3 seeds): this pair had
        near-OOD AUROC 0.731, far-OOD 1.000, Spearman with artifact severity 0.906 and an
        in-distribution flag rate of 0.017 at FDR 0.05, against 0.677 / 1.000 / 0.886 for
        KNN + Mahalanobis and 0.527 / 0.713 / 0.246 for KNN alone. The synthetic shifts are
        ours, so this choice is provisional until the medical benchmark re-measures it.
    calibration_fraction : float
        Share of the reference (or of its groups) held out for calibration.
    tail : bool
        Extend p-values beyond the calibration range with a fitted tail.
    domain_neighbors : int
        Reference neighbours that vote on an image's domain.
    min_domain_calibration : int
        Fewest calibration samples for a domain to be calibrated on its own.
    refit : bool
        After calibration, refit the scorers on the whole reference (calibration part
        included) to score new images: a sharper ranking for less exact p-values. The
        calibration scores still come from the part-fitted scorers on held-out data, and a
        scorer fitted on more data gives a new in-distribution image a lower score than it gave
        the held-out part, so p-values become conservative. Measured on the medical benchmark
        (EfficientNet-Lite0 + blocks 2, 4): near-OOD AUROC 0.933 -> 0.940, in-distribution share
        with p <= 0.1 on held-out subjects 0.090 -> 0.067; KNN in few dimensions is affected
        most. The default keeps the split-conformal guarantee.
    random_state : int
    """

    def __init__(
        self,
        scorers: Sequence[ScorerSpec] | None = None,
        calibration_fraction: float = 0.3,
        tail: bool = True,
        domain_neighbors: int = 10,
        min_domain_calibration: int = 30,
        refit: bool = False,
        random_state: int = 0,
    ) -> None:
        self.scorers = scorers
        self.calibration_fraction = calibration_fraction
        self.tail = tail
        self.refit = refit
        self.domain_neighbors = domain_neighbors
        self.min_domain_calibration = min_domain_calibration
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike | None = None,
        groups: ArrayLike | None = None,
        domains: ArrayLike | None = None,
    ) -> "OODDetector":
        """Fit the scorers and calibrate them on in-distribution reference embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Class labels, passed to scorers that use them.
        groups : array-like of shape (n_samples,), optional
            Patient / volume id of each sample: the calibration split never cuts a group.
        domains : array-like of shape (n_samples,), optional
            Site or scanner of each sample, for group-conditional calibration.
        """
        X = check_embeddings(X, "X", min_samples=2)
        n = X.shape[0]
        y = check_per_sample(y, n, "y")
        domains = check_per_sample(domains, n, "domains")
        fit_idx, cal_idx = calibration_split(
            n,
            groups=groups,
            calibration_fraction=self.calibration_fraction,
            random_state=self.random_state,
        )
        specs = DEFAULT_SCORERS if self.scorers is None else self.scorers
        if not specs:
            raise InvalidInputError("scorers is empty; give at least one scorer or None for the default")
        X_fit, y_fit = X[fit_idx], None if y is None else y[fit_idx]
        self.scorers_ = [_build(spec).fit(X_fit, y_fit) for spec in specs]
        self.scorer_names_ = _unique_names([s.name for s in self.scorers_])
        self.calibration_scores_ = self._raw(X[cal_idx])
        if self.refit:
            self.scorers_ = [_build(spec).fit(X, y) for spec in specs]
        self.n_features_in_ = X.shape[1]
        if domains is None:
            self.domains_ = None
        else:
            self.domains_, codes = np.unique(domains.astype(str), return_inverse=True)
            self.domain_reference_ = l2_normalize(X_fit)
            self.domain_reference_codes_ = codes[fit_idx]
            self.calibration_domain_codes_ = codes[cal_idx]
        self._calibrate()
        return self

    def _calibrate(self) -> None:
        """Build the calibrators from the stored calibration scores (also used by ``load``)."""
        self._calibrators = {_POOLED: self._calibrators_for(self.calibration_scores_)}
        self._domain_index = None
        self.domain_calibration_: dict[str, str] = {}
        if self.domains_ is None:
            return
        for code, name in enumerate(self.domains_):
            in_domain = self.calibration_domain_codes_ == code
            own = in_domain.sum() >= self.min_domain_calibration
            self.domain_calibration_[str(name)] = "own" if own else "pooled"
            if own:
                self._calibrators[name] = self._calibrators_for(self.calibration_scores_[in_domain])
        self._domain_index = build_index(self.domain_reference_.shape[1], "Flat", "l2")
        train_and_add(self._domain_index, self.domain_reference_)

    def _calibrators_for(self, scores: np.ndarray) -> tuple[list[ConformalCalibrator], ConformalCalibrator]:
        per_scorer = [ConformalCalibrator(tail=self.tail).fit(col) for col in scores.T]
        combined = ConformalCalibrator(tail=self.tail).fit(
            cauchy_statistic(np.log(_leave_one_out_p(scores)))
        )
        return per_scorer, combined

    # -- scoring ---------------------------------------------------------------------
    def _raw(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([scorer.score(X) for scorer in self.scorers_])

    def _check(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self, "scorers_")
        return check_embeddings(X, "X", dim=self.n_features_in_)

    def _assign_domains(self, X: np.ndarray) -> np.ndarray:
        k = min(int(self.domain_neighbors), self.domain_reference_.shape[0])
        ids = search(self._domain_index, l2_normalize(X), k)[1]
        votes = self.domain_reference_codes_[ids]
        counts = np.apply_along_axis(np.bincount, 1, votes, minlength=len(self.domains_))
        return self.domains_[counts.argmax(axis=1)]

    def assess(self, X: ArrayLike, alpha: float = 0.05) -> pd.DataFrame:
        """Everything about each image, one row per row of ``X``.

        Columns: one raw score per scorer (its name), ``p_<scorer>`` per scorer, ``p_combined``,
        ``degree``, ``surprise`` (-log10 p_combined), ``flagged`` (BH at ``alpha`` across these
        rows) and, with domains, ``domain`` (the reference domain the image was calibrated
        against) and ``domain_calibration`` ("own" or "pooled").
        """
        X = self._check(X)
        raw = self._raw(X)
        table = pd.DataFrame(raw, columns=self.scorer_names_)
        keys = np.full(X.shape[0], _POOLED, dtype=object)
        if self.domains_ is not None:
            table["domain"] = self._assign_domains(X)
            own = np.isin(table["domain"], list(self._calibrators))
            keys[own] = table["domain"][own]
            table["domain_calibration"] = np.where(own, "own", "pooled")
        log_p = np.empty_like(raw)
        log_combined = np.empty(X.shape[0])
        for key in np.unique(keys):
            rows = keys == key
            per_scorer, comb = self._calibrators[key]
            log_p[rows] = np.column_stack(
                [c.log_pvalues(raw[rows, j]) for j, c in enumerate(per_scorer)]
            )
            log_combined[rows] = comb.log_pvalues(cauchy_statistic(log_p[rows]))
        for j, name in enumerate(self.scorer_names_):
            table[f"p_{name}"] = np.exp(log_p[:, j])
        combined = np.exp(log_combined)
        table["p_combined"] = combined
        table["degree"] = 0.0 - np.expm1(log_combined)  # 0.0 - : no "-0.0" for p = 1
        table["surprise"] = -log_combined / np.log(10.0)
        table["flagged"] = benjamini_hochberg(combined, alpha) if len(table) else []
        return table

    def score(self, X: ArrayLike) -> pd.DataFrame:
        """Raw scores, one column per scorer, shape (n_samples, n_scorers); higher = more OOD."""
        return pd.DataFrame(self._raw(self._check(X)), columns=self.scorer_names_)

    def pvalues(self, X: ArrayLike) -> pd.DataFrame:
        """Per-scorer p-values (``p_<scorer>``) and the combined one (``p_combined``)."""
        table = self.assess(X)
        return table[[c for c in table.columns if c.startswith("p_")]]

    def degree(self, X: ArrayLike) -> np.ndarray:
        """OOD degree in [0, 1] of each row of ``X``, shape (n_samples,)."""
        return self.assess(X)["degree"].to_numpy()

    def flag(self, X: ArrayLike, alpha: float = 0.05) -> np.ndarray:
        """Boolean mask of images flagged OOD, false-discovery rate ``alpha`` (Benjamini-Hochberg)."""
        return self.assess(X, alpha)["flagged"].to_numpy()

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted detector to directory ``path`` (JSON + ``.npz``, no pickle).

        The files are written into a temporary sibling directory that then replaces ``path``,
        so an interrupted save leaves the previous detector (or nothing) at ``path``, never a
        mix. A non-empty ``path`` that is not a saved detector is refused.
        """
        check_is_fitted(self, "scorers_")
        path = Path(path)
        if path.exists() and any(path.iterdir()) and not (path / "detector.json").exists():
            raise InvalidInputError(
                f"{path}: exists and is not a saved OODDetector; choose an empty or new directory"
            )
        arrays = {"calibration_scores": self.calibration_scores_}
        for i, scorer in enumerate(self.scorers_):
            arrays.update({f"scorer{i}.{k}": v for k, v in scorer.get_state().items()})
        if self.domains_ is not None:
            arrays["domain_reference"] = self.domain_reference_
            arrays["domain_reference_codes"] = self.domain_reference_codes_
            arrays["calibration_domain_codes"] = self.calibration_domain_codes_
        config = {
            "format": "fmood.detector",
            "format_version": FORMAT_VERSION,
            "fmood_version": fmood.__version__,
            "params": {k: v for k, v in self._params().items() if k != "scorers"},
            "scorers": [{"name": s.name, "params": s.get_params()} for s in self.scorers_],
            "n_features_in": self.n_features_in_,
            "domains": None if self.domains_ is None else [str(d) for d in self.domains_],
        }
        with staged_directory(path) as staging:
            write_atomic(staging / "arrays.npz", lambda tmp: _savez(tmp, arrays))
            write_bytes_atomic(staging / "detector.json", json.dumps(config, indent=2).encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "OODDetector":
        """Read a detector written by :meth:`save`.

        Every field of ``detector.json`` and every array of ``arrays.npz`` (read without
        pickle) is checked against what ``save`` writes; anything else raises
        :class:`~fmood.errors.StoreCorruptError` naming the file and the field, or
        :class:`~fmood.errors.StoreVersionError` for a newer format.
        """
        path = Path(path)
        config_file, arrays_file = path / "detector.json", path / "arrays.npz"
        config = _read_config(config_file)
        arrays = _read_arrays(arrays_file)
        try:
            params = construct(cls, "detector", "OODDetector", config["params"])._params()
            check_params(cls, {k: v for k, v in params.items() if k != "scorers"})
            check_positive_int(params["domain_neighbors"], "domain_neighbors")
        except InvalidInputError as err:
            raise StoreCorruptError(f"{config_file}: params: {err}; {_FIX}") from None
        detector = cls(**{**params, "scorers": [s["name"] for s in config["scorers"]]})
        scorers = [_configured_scorer(spec, f"{config_file}: scorers[{i}]") for i, spec in enumerate(config["scorers"])]
        n_features = config["n_features_in"]
        try:
            _check_arrays(arrays, config)
            detector.scorers_ = [
                _restored_scorer(scorer, arrays, f"scorer{i}.", n_features) for i, scorer in enumerate(scorers)
            ]
        except InvalidInputError as err:
            raise StoreCorruptError(f"{arrays_file}: {err}; {_FIX}") from None
        for i, scorer in enumerate(detector.scorers_):
            try:  # parameters used only when scoring (batch sizes) are checked by scoring a row
                scorer.score(np.zeros((1, n_features), dtype=np.float32))
            except InvalidInputError as err:
                raise StoreCorruptError(f"{config_file}: scorers[{i}]: {err}; {_FIX}") from None
        detector.scorer_names_ = _unique_names([s.name for s in detector.scorers_])
        detector.calibration_scores_ = arrays["calibration_scores"].astype(np.float64)
        detector.n_features_in_ = n_features
        detector.domains_ = None
        if config["domains"] is not None:
            detector.domains_ = np.asarray(config["domains"])
            detector.domain_reference_ = arrays["domain_reference"].astype(np.float32)
            detector.domain_reference_codes_ = arrays["domain_reference_codes"]
            detector.calibration_domain_codes_ = arrays["calibration_domain_codes"]
        detector._calibrate()
        return detector

    def _params(self) -> dict[str, Any]:
        return {
            "scorers": self.scorers,
            "calibration_fraction": self.calibration_fraction,
            "tail": self.tail,
            "domain_neighbors": self.domain_neighbors,
            "min_domain_calibration": self.min_domain_calibration,
            "refit": self.refit,
            "random_state": self.random_state,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"OODDetector({args})"


def _build(spec: ScorerSpec) -> BaseScorer:
    """A fresh, unfitted scorer from a name, an instance (cloned) or (name, params)."""
    if isinstance(spec, BaseScorer):
        return type(spec)(**spec.get_params())
    if isinstance(spec, str):
        return get_scorer(spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return get_scorer(spec[0], **dict(spec[1]))
    raise InvalidInputError(
        f"a scorer must be a name, a scorer instance or (name, params), got {spec!r}"
    )


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _leave_one_out_p(scores: np.ndarray) -> np.ndarray:
    """Conformal p-value of each calibration score against the other calibration scores.

    For score s_i among n: ``(1 + #{j != i : s_j >= s_i}) / n``, column by column.
    """
    n = scores.shape[0]
    sorted_cols = np.sort(scores, axis=0)
    at_or_above = np.column_stack(
        [n - np.searchsorted(sorted_cols[:, j], scores[:, j], side="left") for j in range(scores.shape[1])]
    )
    return at_or_above / n


def _read_config(config_file: Path) -> dict[str, Any]:
    """``detector.json``, with the type of every field checked."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreCorruptError(f"{config_file}: missing; not a saved OODDetector") from None
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
        raise StoreCorruptError(f"{config_file}: not readable JSON ({err}); {_FIX}") from None
    if not isinstance(config, dict) or config.get("format") != "fmood.detector":
        raise StoreCorruptError(
            f"{config_file}: not a saved OODDetector (no \"format\": \"fmood.detector\"); "
            f"if it was one, {_FIX}"
        )

    def require(ok: bool, field: str, expected: str) -> None:
        if not ok:
            found = repr(config.get(field, "(missing)"))[:80]
            raise StoreCorruptError(f"{config_file}: field {field!r} must be {expected}, got {found}; {_FIX}")

    version = config.get("format_version")
    require(_is_int(version) and version >= 1, "format_version", "an integer >= 1")
    if version > FORMAT_VERSION:
        raise StoreVersionError(
            f"{config_file}: format version {version} is newer than this fmood reads "
            f"({FORMAT_VERSION}); upgrade fmood"
        )
    require(isinstance(config.get("params"), dict), "params", "an object")
    scorers = config.get("scorers")
    require(
        isinstance(scorers, list) and len(scorers) > 0 and all(
            isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("params"), dict)
            for s in scorers
        ),
        "scorers", "a non-empty list of {\"name\": str, \"params\": object}",
    )
    require(_is_int(config.get("n_features_in")) and config["n_features_in"] >= 1, "n_features_in", "an integer >= 1")
    domains = config.get("domains", "(missing)")
    require(
        domains is None or (
            isinstance(domains, list) and len(domains) > 0 and all(isinstance(d, str) for d in domains)
            and len(set(domains)) == len(domains)
        ),
        "domains", "null or a non-empty list of distinct strings",
    )
    return config


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_arrays(arrays_file: Path) -> dict[str, np.ndarray]:
    """Every array of ``arrays.npz``, read without pickle."""
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile)
    try:
        npz = np.load(arrays_file, allow_pickle=False)
    except FileNotFoundError:
        raise StoreCorruptError(f"{arrays_file}: missing; not a saved OODDetector") from None
    except unreadable as err:
        raise StoreCorruptError(f"{arrays_file}: not a readable .npz archive ({err}); {_FIX}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise StoreCorruptError(f"{arrays_file}: a single .npy array, not an .npz archive; {_FIX}")
    try:
        with npz:
            return {key: npz[key] for key in npz.files}
    except unreadable as err:
        raise StoreCorruptError(f"{arrays_file}: not a readable .npz archive ({err}); {_FIX}") from None


def _arrays_spec(with_domains: bool) -> StateSpec:
    """The detector's own arrays in ``arrays.npz``."""
    spec: StateSpec = {"calibration_scores": ("f", ("calibration", "scorers"))}
    if with_domains:
        spec.update({
            "domain_reference": ("f", ("reference", FEATURES)),
            "domain_reference_codes": ("iu", ("reference",)),
            "calibration_domain_codes": ("iu", ("calibration",)),
        })
    return spec


def _configured_scorer(spec: dict[str, Any], where: str) -> BaseScorer:
    """An unfitted scorer from its ``{"name", "params"}`` entry in ``detector.json``."""
    try:
        scorer = get_scorer(spec["name"], **spec["params"])
        check_params(type(scorer), spec["params"])
    except InvalidInputError as err:
        raise StoreCorruptError(f"{where}: {err}; {_FIX}") from None
    return scorer


def _check_arrays(arrays: dict[str, np.ndarray], config: dict[str, Any]) -> None:
    """The detector's own arrays against ``config``; no array that belongs to nobody."""
    n_scorers, domains = len(config["scorers"]), config["domains"]
    sizes = check_state(
        {k: v for k, v in arrays.items() if not k.startswith("scorer")},
        _arrays_spec(domains is not None),
        "detector",
        sizes={"scorers": n_scorers, FEATURES: config["n_features_in"]},
    )
    if sizes["calibration"] < 2:
        raise InvalidInputError("detector state: calibration_scores has fewer than 2 rows")
    prefixes = {f"scorer{i}" for i in range(n_scorers)}
    orphans = sorted(
        k for k in arrays if k.startswith("scorer") and (k.split(".", 1)[0] not in prefixes or "." not in k)
    )
    if orphans:
        raise InvalidInputError(f"detector state: unexpected array(s) {', '.join(orphans)}")
    for key in ("domain_reference_codes", "calibration_domain_codes") if domains else ():
        codes = arrays[key]
        if codes.min() < 0 or codes.max() >= len(domains):
            raise InvalidInputError(f"detector state: {key} holds codes outside [0, {len(domains)})")


def _restored_scorer(
    scorer: BaseScorer, arrays: dict[str, np.ndarray], prefix: str, n_features: int
) -> BaseScorer:
    """``scorer`` with its state restored from the arrays under ``prefix``."""
    state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    try:
        scorer.set_state(state)
    except InvalidInputError as err:
        raise InvalidInputError(f"{prefix.rstrip('.')}: {err}") from None
    if scorer.n_features_in_ != n_features:
        raise InvalidInputError(
            f"{prefix}n_features_in_ is {scorer.n_features_in_}, but detector.json says {n_features}"
        )
    return scorer


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # A file object, not a name: np.savez would append ".npz" to the temporary name.
    with open(path, "wb") as f:
        np.savez(f, **arrays)
