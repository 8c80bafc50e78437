"""Issue 10, item 4: do proxy outliers (synthetic artifacts of the reference) sharpen the degree?

    python benchmarks/medical_ood/proxy_outliers.py [--backbones efficientnet-lite0,...]

Run after ``run.py`` (it reuses run.py's data and embedding cache). For every reference
slice, two proxy outliers are made with fmood's torchio artifacts (families cycled, strength
drawn on a 10-level scale, seeds other than the target's), and embedded. A logistic
classifier (reference vs proxies, L2-normalised features) is cross-fitted over folds of whole
reference subjects: proxies of a held-out subject never train the model that scores it, so
the out-of-fold reference scores are exchangeable with a new in-distribution image's score and
its conformal p-value stays valid (Bates et al. 2023) whatever the proxies are. Its p-value is
Cauchy-combined with the default detector's (:class:`fmood.OODDetector`).

Measured two ways, because proxies of the very families the target holds flatter the result:
``all families`` (the proxies cover the six target artifact families, other strengths) and
``leave one family out`` (each family is scored by a classifier that never saw it: what a
user gets for an artifact they did not anticipate). Writes ``results/proxy_outliers.json``
and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BACKBONES, SEED

from fmood import OODDetector
from fmood.calibration.combine import cauchy_pvalue, cauchy_statistic
from fmood.metrics import auroc
from fmood.workflows import store_for
from fmood_bench.datasets.medical import ARTIFACT_TYPES, SHIFTS, apply_artifact
from fmood_bench.evaluation.tables import severity_table

PER_IMAGE = 2
LEVELS = 10
ALPHA = 0.05


def make_proxies(data_dir: Path, seed: int = SEED + 1) -> Path:
    """Write the proxy PNGs and ``proxies.csv`` beside the benchmark's manifests (once)."""
    csv = data_dir / "proxies.csv"
    if csv.exists():
        return csv
    reference = pd.read_csv(data_dir / "reference.csv")
    rng = np.random.default_rng(seed)
    rows = []
    for i, row in enumerate(reference.itertuples(index=False)):
        pixels = np.asarray(Image.open(data_dir / row.path).convert("L"), np.float32) / 255.0
        for r in range(PER_IMAGE):
            family = ARTIFACT_TYPES[(i * PER_IMAGE + r) % len(ARTIFACT_TYPES)]
            level = int(rng.integers(1, LEVELS + 1))
            out, parameters = apply_artifact(
                pixels, family, level, LEVELS, seed=int(rng.integers(2**31))
            )
            path = Path("proxies") / row.patient / f"{Path(row.path).stem}_{family}_{level}.png"
            (data_dir / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(out * 255).astype(np.uint8)).save(data_dir / path)
            rows.append(
                {
                    "path": path.as_posix(),
                    "patient": row.patient,
                    "shift": f"proxy-{family}",
                    "family": family,
                    "level": level,
                    "transform": parameters,
                }
            )
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def _unit(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def proxy_pvalues(
    X_ref: np.ndarray,
    groups: np.ndarray,
    X_proxy: np.ndarray,
    proxy_groups: np.ndarray,
    X: np.ndarray,
    n_folds: int = 5,
    standardise: bool = False,
    C: float = 1.0,
) -> np.ndarray:
    """Cross-fitted conformal p-values of a reference-vs-proxies classifier for ``X``.

    Features are L2-normalised (as the default detector's scorers), or standardised.
    """
    if not standardise:
        X_ref, X_proxy, X = _unit(X_ref), _unit(X_proxy), _unit(X)
    out_of_fold = np.empty(len(X_ref))
    scores = np.zeros(len(X))
    for train, held in GroupKFold(n_folds).split(X_ref, groups=groups):
        usable = ~np.isin(proxy_groups, np.unique(groups[held]))
        model = make_pipeline(
            StandardScaler() if standardise else "passthrough",
            LogisticRegression(C=C, max_iter=5000, class_weight="balanced"),
        )
        model.fit(
            np.vstack([X_ref[train], X_proxy[usable]]),
            np.r_[np.zeros(len(train)), np.ones(usable.sum())],
        )
        out_of_fold[held] = model.decision_function(X_ref[held])
        scores += model.decision_function(X) / n_folds
    exceed = (out_of_fold[None, :] >= scores[:, None]).sum(axis=1)
    return (1.0 + exceed) / (len(out_of_fold) + 1.0)


def combined(*pvalues: np.ndarray) -> np.ndarray:
    return cauchy_pvalue(cauchy_statistic(np.log(np.column_stack(pvalues))))


def bonferroni(*pvalues: np.ndarray) -> np.ndarray:
    """``min(1, m * min p)``: valid under any dependence, and unlike the Cauchy statistic not
    dragged down by a p-value near 1 from one of the two."""
    return np.minimum(1.0, len(pvalues) * np.min(np.column_stack(pvalues), axis=1))


def measure(p: np.ndarray, meta: pd.DataFrame) -> dict[str, float]:
    """Near AUROC, severity-1 AUROC, mean Spearman with severity (as run.py), ID share of p <= alpha."""
    score = -np.log(p)
    shift = meta["shift"].to_numpy()
    is_id = shift == "id"
    near = [s for s in pd.unique(shift) if s != "id" and SHIFTS[s].group == "near"]
    severity = meta["severity"].to_numpy(dtype=float)
    mild = (severity == 1) & ~is_id
    return {
        "near_auroc": float(np.mean([auroc(score[is_id], score[shift == s]) for s in near])),
        "severity1_auroc": auroc(score[is_id], score[mild]),
        "mean_spearman": float(severity_table({"p": score}, meta).loc["p", "mean"]),
        "id_share_p_le_alpha": float(np.mean(p[is_id] <= ALPHA)),
    }


def per_family(p: np.ndarray, meta: pd.DataFrame, family: str) -> dict[str, float]:
    score = -np.log(p)
    shift = meta["shift"].to_numpy()
    is_id = shift == "id"
    rows = shift == f"artifact-{family}"
    mild = rows & (meta["severity"].to_numpy(dtype=float) == 1)
    return {
        "auroc": auroc(score[is_id], score[rows]),
        "severity1": auroc(score[is_id], score[mild]),
    }


def evaluate(label: str, cache: Path) -> dict:
    config = BACKBONES[label]
    model = config.load()
    data = cache / "data"
    stores = [
        store_for(csv, model, store_root=cache / "embeddings", progress=True)
        for csv in (data / "reference.csv", data / "target.csv", make_proxies(data))
    ]
    (X_ref, ref), (X_tgt, tgt), (X_prx, prx) = (
        (np.asarray(s.embeddings, np.float32), s.metadata.reset_index(drop=True)) for s in stores
    )
    groups, proxy_groups = ref["patient"].to_numpy(str), prx["patient"].to_numpy(str)
    detector = OODDetector(random_state=SEED).fit(X_ref, groups=groups)
    p_detector = detector.assess(X_tgt)["p_combined"].to_numpy()
    p_all = proxy_pvalues(X_ref, groups, X_prx, proxy_groups, X_tgt)
    rows = {
        "detector (default)": measure(p_detector, tgt),
        "proxy classifier alone (all families)": measure(p_all, tgt),
        "detector + proxy classifier (all families)": measure(combined(p_detector, p_all), tgt),
        "detector + proxy classifier, Bonferroni (all families)": measure(
            bonferroni(p_detector, p_all), tgt
        ),
    }
    for C in (0.01, 0.1, 1.0):
        p_std = proxy_pvalues(X_ref, groups, X_prx, proxy_groups, X_tgt, standardise=True, C=C)
        rows[f"detector + proxy classifier, standardised C={C} (all families)"] = measure(
            combined(p_detector, p_std), tgt
        )
    families = {}
    for family in ARTIFACT_TYPES:
        seen = prx["family"].to_numpy() != family
        p_out = proxy_pvalues(X_ref, groups, X_prx[seen], proxy_groups[seen], X_tgt)
        families[family] = {
            "detector": per_family(p_detector, tgt, family),
            "detector + proxies (family left out)": per_family(
                combined(p_detector, p_out), tgt, family
            ),
            "detector + proxies (all families)": per_family(
                combined(p_detector, p_all), tgt, family
            ),
        }
    return {"backbone": label, "n_proxies": len(X_prx), "overall": rows, "families": families}


def _markdown(results: list[dict]) -> str:
    lines = ["# Proxy outliers (issue 10, item 4)", ""]
    for r in results:
        lines += [f"## {r['backbone']} ({r['n_proxies']} proxies)", ""]
        lines += ["| variant | near AUROC | severity-1 AUROC | mean Spearman | ID p<=0.05 |"]
        lines += ["|---|---|---|---|---|"]
        for name, m in r["overall"].items():
            lines.append(
                f"| {name} | {m['near_auroc']:.3f} | {m['severity1_auroc']:.3f} | "
                f"{m['mean_spearman']:.3f} | {m['id_share_p_le_alpha']:.3f} |"
            )
        lines += [
            "",
            "| family | detector AUROC / sev-1 | + proxies, family left out | "
            "+ proxies, all families |",
            "|---|---|---|---|",
        ]
        for family, f in r["families"].items():
            cells = [f"{v['auroc']:.3f} / {v['severity1']:.3f}" for v in f.values()]
            lines.append(f"| {family} | " + " | ".join(cells) + " |")
        mean = {
            k: np.mean([f[k]["severity1"] for f in r["families"].values()])
            for k in next(iter(r["families"].values()))
        }
        lines.append("| mean severity-1 | " + " | ".join(f"{v:.3f}" for v in mean.values()) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="efficientnet-lite0,efficientnet-lite0+blocks-2-4")
    parser.add_argument("--cache", type=Path, default=HERE / "cache")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    results = [evaluate(label, args.cache) for label in args.backbones.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "proxy_outliers.json").write_text(json.dumps(results, indent=2))
    (args.out / "proxy_outliers.md").write_text(_markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    main()
