"""The ranked table and the files ``comparison.csv``, ``.md``, ``.html`` and ``summary.json``.

The table and the JSON are both read off the :class:`~.record.BackboneMeasures` records.
The four files are written into a staging directory that then replaces ``out_dir`` in one
rename (as the report's), so a failed run leaves an earlier comparison, or nothing, in place.
The HTML page is rendered by Jinja2 with autoescaping: backbone names and paths cannot add
markup; it has inline CSS only, no scripts and no external resources.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd

from fmood._version import __version__
from fmood.report.outputs import plain
from fmood.report.template import CSS
from fmood.sanitize import csv_safe
from fmood.utils.atomic import fsync_file, make_shared, staged_directory

if TYPE_CHECKING:  # the records import the measures; the files only read them
    from fmood.workflows.comparison.record import BackboneMeasures

CSV_NAME = "comparison.csv"
MARKDOWN_NAME = "comparison.md"
HTML_NAME = "comparison.html"
SUMMARY_NAME = "summary.json"
SUMMARY_FORMAT = "fmood.compare"
SUMMARY_FORMAT_VERSION = 1

#: rank_by key -> (column, higher first, what it measures).
RANKINGS: dict[str, tuple[str, bool, str]] = {
    "separability": (
        "separability",
        True,
        (
            "how clearly an OOD detector fitted on the reference tells target images from "
            "held-out reference images"
        ),
    ),
    "classifier_auroc": (
        "classifier_auroc",
        True,
        "how well a linear classifier trained on both sets tells them apart",
    ),
    "mmd_ratio": ("mmd_ratio", True, "the MMD between the sets over its noise floor"),
    "flagged_share": ("flagged_share", True, "the share of target images the OOD detector flags"),
    "target_accuracy": ("target_accuracy", True, "the linear probe's accuracy on the target"),
    "accuracy_drop": (
        "accuracy_drop",
        False,
        "the linear probe's accuracy lost from reference to target",
    ),
    "error_aurc": (
        "error_aurc",
        False,
        "how well the OOD evidence finds the probe's target errors (AURC)",
    ),
}
#: Columns present only with a label column.
LABEL_COLUMNS = (
    "reference_accuracy",
    "target_accuracy",
    "accuracy_drop",
    "error_auroc",
    "error_aurc",
    "error_augrc",
)
#: Throughput columns: the only ones a rerun with the same seed may change.
THROUGHPUT_COLUMNS = ("images_per_second", "throughput_measured_on")
#: Every column of ``comparison.csv``, in order, with what it holds.
COLUMNS: dict[str, str] = {
    "rank": "position in the ranking (1 = first)",
    "backbone": "the backbone; random:NAME is NAME with random weights (a control)",
    "weights": "pretrained, random (the control) or given (a Backbone object)",
    "dim": "length of its embedding vectors",
    "n_reference": "reference images embedded",
    "n_target": "target images embedded",
    "separability": (
        "AUROC of the OOD evidence (surprise = -log10 of the combined p-value) of an OOD "
        "detector fitted on the reference alone: target images against the reference images "
        "held out from its fitting (scored leave-one-out). 0.5: the detector cannot tell them "
        "apart, 1: every target image is more atypical than every held-out reference image"
    ),
    "classifier_auroc": (
        "cross-validated AUROC of a linear domain classifier (standardised logistic "
        "regression, C = 0.1) trained on both sets, target against reference; folds keep "
        "patients whole. It tells whether any linear difference exists: with hundreds of "
        "dimensions it is near 1 for almost any visible shift, random weights included"
    ),
    "mmd_ratio": (
        "MMD^2 (RBF kernel, median bandwidth) between reference and target over its null "
        "level (the same MMD between two parts of the reference, patients kept whole): "
        "about 1 or less when the target looks like more reference"
    ),
    "mmd": "MMD^2 between reference and target",
    "mmd_null_level": "MMD^2 between two parts of the reference (the noise floor)",
    "mmd_p_value": "permutation p-value of 'one distribution' (patients permuted whole)",
    "flagged_share": (
        "share of target images flagged by an OOD detector fitted on the reference "
        "(conformal p-values, Benjamini-Hochberg at the stated false-discovery rate)"
    ),
    "n_flagged": "target images flagged",
    "median_degree": "median OOD degree (1 - combined p-value) of the target images",
    "reference_accuracy": (
        "accuracy of a linear probe (standardised logistic regression, C = 0.1) trained on "
        "70% of the reference, on the held-out 30% (whole patients)"
    ),
    "target_accuracy": "accuracy of the same probe on the target",
    "accuracy_drop": "reference_accuracy - target_accuracy",
    "error_auroc": (
        "AUROC of the OOD evidence for the probe's wrong target predictions against its right "
        "ones (0.5: the evidence does not find errors; empty when all right or all wrong)"
    ),
    "error_aurc": (
        "area under the risk-coverage curve when target images are deferred most-OOD first "
        "(lower is better; a blind ranking gives about the probe's target error rate, so read "
        "it beside target_accuracy; 0 when the probe makes no error)"
    ),
    "error_augrc": "area under the generalized risk-coverage curve, same ranking (lower is better)",
    "images_per_second": "embedding throughput on this machine",
    "throughput_measured_on": (
        "the images timed: those embedded in this run (wall-clock of the run: reading, "
        "decoding and the model), or, when all were stored already, a few stored reference "
        "images re-embedded in memory (the model and preprocessing only, so faster); compare "
        "throughputs measured the same way"
    ),
    "weights_sha256": "SHA-256 of the backbone's weights (its full fingerprint is in summary.json)",
}

_ENVIRONMENT = jinja2.Environment(
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


@dataclass(frozen=True)
class ComparisonFiles:
    """The final path of each file of a comparison."""

    csv: Path
    markdown: Path
    html: Path
    summary: Path


def ranked_table(rows: list[dict[str, Any]], rank_by: str, *, with_labels: bool) -> pd.DataFrame:
    """The rows (:meth:`BackboneMeasures.row`) sorted by ``rank_by``, numbered from 1.

    Missing values sort last, ties keep the given order; the columns are those of
    :data:`COLUMNS`, less :data:`LABEL_COLUMNS` without labels.
    """
    column, higher_first, _ = RANKINGS[rank_by]
    table = pd.DataFrame(rows)
    key = table[column].astype(float)
    key = -key if higher_first else key
    order = np.lexsort((np.arange(len(table)), key.fillna(np.inf).to_numpy()))
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    wanted = [c for c in COLUMNS if with_labels or c not in LABEL_COLUMNS]
    return table[wanted]


def meaning(rank_by: str, with_labels: bool, has_control: bool) -> list[str]:
    """Plain sentences: what the ranking means, what it does not, and how to read the rest."""
    column, higher_first, measures = RANKINGS[rank_by]
    order = "highest" if higher_first else "lowest"
    lines = [f"Ranked by {column} ({measures}), {order} first."]
    if rank_by in ("separability", "classifier_auroc", "mmd_ratio", "flagged_share"):
        lines.append(
            f"A higher {column} means this backbone sees the target as more different from the "
            "reference: it is the more sensitive detector of this shift. It does not say which "
            "backbone makes the better diagnostic model: a backbone can separate the two sets "
            "on what the task does not depend on (noise, contrast, scanner), or miss a shift "
            "that matters."
        )
        lines.append(
            "The linear probe's accuracy drop and error AURC (columns to the right) speak to "
            "that: they measure how a classifier on these features fares on the target and "
            "whether the OOD evidence finds its errors."
            if with_labels
            else "To judge that, give a label column: a linear probe trained on the reference is then "
            "tested on the target (accuracy drop), and the OOD evidence is scored on how well it "
            "finds the probe's errors (AURC)."
        )
    else:
        lines.append(
            "The probe is a logistic regression on frozen features: it shows how much task "
            "information survives the shift in each embedding, a proxy for (not the accuracy "
            "of) a model fine-tuned on the reference. Separability, MMD ratio and flagged share "
            "say how different each backbone finds the target."
        )
    if has_control:
        lines.append(
            "random:NAME rows are NAME with random weights: what the architecture and "
            "preprocessing alone pick up. A pretrained backbone that does no better than its "
            "control owes its numbers to low-level image statistics, not to what it learned."
        )
    return lines


def markdown(table: pd.DataFrame, lines: list[str], setup: dict[str, Any]) -> str:
    """The comparison as a Markdown document: title, the sentences, the formatted table."""
    shown = _display(table)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---:" if c in _NUMERIC_SHOWN else "---" for c in shown.columns) + "|"
    body = [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    return "\n".join(
        [
            "# fmood backbone comparison",
            "",
            f"Reference `{setup['reference']}`, target `{setup['target']}`, seed {setup['seed']}, "
            f"false-discovery rate {setup['alpha']:g}"
            + (f", labels from `{setup['label_column']}`" if setup["label_column"] else "")
            + ".",
            "",
            *[f"{line}\n" for line in lines],
            header,
            rule,
            *body,
            "",
            f"Column definitions and every number: `{SUMMARY_NAME}`; full precision: `{CSV_NAME}`.",
            "",
        ]
    )


def render_html(
    table: pd.DataFrame,
    lines: list[str],
    setup: dict[str, Any],
    details: list[dict[str, Any]],
    generated: str,
) -> str:
    """The comparison as one self-contained HTML page."""
    shown = _display(table)
    return _ENVIRONMENT.from_string(_TEMPLATE).render(
        css=CSS + _EXTRA_CSS,
        lines=lines,
        header=[(c, _css_class(c)) for c in shown.columns],
        rows=[
            list(zip(row, map(_css_class, shown.columns), strict=True))
            for row in shown.itertuples(index=False)
        ],
        glossary=[(c, COLUMNS[c]) for c in table.columns],
        setup=setup,
        fingerprints=[
            (
                d["backbone"],
                d["fingerprint"]["name"],
                d["fingerprint"]["weights_sha256"] or "unknown",
                d["fingerprint"]["preprocessing"] or "(not recorded)",
            )
            for d in details
        ],
        generated=generated,
        version=__version__,
    )


def write_comparison(
    out_dir: Path,
    table: pd.DataFrame,
    measures: Sequence[BackboneMeasures],
    setup: dict[str, Any],
) -> ComparisonFiles:
    """Write the four files into a staging directory that then replaces ``out_dir`` whole.

    ``table`` is :func:`ranked_table` of the records' rows; ``setup`` the inputs and
    settings recorded at the top of ``summary.json``.
    """
    with_labels = setup["label_column"] is not None
    has_control = any(m.spec.weights == "random" for m in measures)
    lines = meaning(setup["rank_by"], with_labels, has_control)
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    by_label = {m.label: m.to_dict() for m in measures}
    summary = {
        "format": SUMMARY_FORMAT,
        "format_version": SUMMARY_FORMAT_VERSION,
        **setup,
        "ranking": table["backbone"].tolist(),
        "meaning": lines,
        "table": table.to_dict(orient="records"),
        "columns": {c: COLUMNS[c] for c in table.columns},
        "backbones": [by_label[label] for label in table["backbone"]],
        "fmood_version": __version__,
        "generated": generated,
    }
    document = render_html(table, lines, setup, [by_label[b] for b in table["backbone"]], generated)
    with staged_directory(out_dir) as staging:
        make_shared(staging)  # mkdtemp makes it owner-only; results are shared
        csv_safe(table).to_csv(staging / CSV_NAME, index=False)
        (staging / MARKDOWN_NAME).write_text(markdown(table, lines, setup), encoding="utf-8")
        (staging / HTML_NAME).write_text(document, encoding="utf-8")
        (staging / SUMMARY_NAME).write_bytes(
            json.dumps(plain(summary), indent=2, allow_nan=False, ensure_ascii=False).encode(
                "utf-8"
            )
        )
        for name in (CSV_NAME, MARKDOWN_NAME, HTML_NAME, SUMMARY_NAME):
            fsync_file(staging / name)
    return ComparisonFiles(
        csv=out_dir / CSV_NAME,
        markdown=out_dir / MARKDOWN_NAME,
        html=out_dir / HTML_NAME,
        summary=out_dir / SUMMARY_NAME,
    )


# Shown columns: (source column, header, format). Counts and hashes stay in the CSV.
_SHOWN: tuple[tuple[str, str, str], ...] = (
    ("rank", "rank", "d"),
    ("backbone", "backbone", "s"),
    ("weights", "weights", "s"),
    ("separability", "separability (AUROC)", ".3f"),
    ("classifier_auroc", "domain classifier AUROC", ".3f"),
    ("mmd_ratio", "MMD ratio", "ratio"),
    ("mmd_p_value", "MMD p", ".3g"),
    ("flagged_share", "flagged", "share"),
    ("median_degree", "median degree", ".3f"),
    ("reference_accuracy", "probe acc. (reference)", ".3f"),
    ("target_accuracy", "probe acc. (target)", ".3f"),
    ("accuracy_drop", "accuracy drop", "+.3f"),
    ("error_auroc", "error AUROC", ".3f"),
    ("error_aurc", "error AURC", ".3f"),
    ("error_augrc", "error AUGRC", ".3f"),
    ("images_per_second", "images/s", ".1f"),
    ("throughput_measured_on", "timed on", "s"),
)
_NUMERIC_SHOWN = {header for _, header, spec in _SHOWN if spec != "s"}
#: Long text columns, wrapped so the table fits the window.
_WRAPPED = {"timed on"}

# The table fits a 1400 px window: a wider page, headers and the "timed on" text wrapped,
# numbers kept on one line; narrower windows scroll the table with rank and backbone pinned.
_EXTRA_CSS = """
main { max-width: 1360px; }
p.meaning { font-size: 1.02rem; margin: 0.4rem 0; }
table.comparison { font-size: 0.92rem; }
table.comparison th, table.comparison td { padding: 0.25rem 0.4rem; }
table.comparison th { white-space: normal; vertical-align: bottom; max-width: 6.5em; }
table.comparison td { white-space: nowrap; }
table.comparison td.wrap { white-space: normal; min-width: 10em; }
table.comparison td:nth-child(2) { white-space: normal; overflow-wrap: anywhere; max-width: 11em; }
table.comparison th:nth-child(-n+2), table.comparison td:nth-child(-n+2) {
  position: sticky; background: #fff; z-index: 1; }
table.comparison th:nth-child(-n+2) { background: #f1f1ef; }
table.comparison th:nth-child(1), table.comparison td:nth-child(1) { left: 0; min-width: 2.5em; }
table.comparison th:nth-child(2), table.comparison td:nth-child(2) { left: 3.5em; }
.scroll { overflow-x: auto; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fmood backbone comparison</title>
<style>{{ css }}</style>
</head>
<body>
<main>
<header>
<h1>Backbone comparison</h1>
<p class="sub">Reference {{ setup.reference }}, target {{ setup.target }}; seed {{ setup.seed }},
false-discovery rate {{ setup.alpha }}{% if setup.label_column %}, labels from
column {{ setup.label_column }}{% endif %}.</p>
</header>

<section id="ranking">
<h2>Ranking</h2>
{% for line in lines %}
<p class="meaning">{{ line }}</p>
{% endfor %}
<div class="scroll">
<table class="comparison">
<thead><tr>
{% for name, kind in header %}<th class="{{ kind }}">{{ name }}</th>{% endfor %}
</tr></thead>
<tbody>
{% for row in rows %}
<tr>{% for value, kind in row %}<td class="{{ kind }}">{{ value }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
</div>
</section>

<section id="columns">
<h2>What each column means</h2>
<dl>
{% for name, text in glossary %}
<dt><code>{{ name }}</code></dt><dd>{{ text }}</dd>
{% endfor %}
</dl>
</section>

<footer id="about">
<h2>About this comparison</h2>
<dl>
{% for label, name, sha, preprocessing in fingerprints %}
<dt>{{ label }}</dt>
<dd>{{ name }}; weights sha256 {{ sha }}; preprocessing {{ preprocessing }}</dd>
{% endfor %}
<dt>Embeddings</dt><dd>kept in {{ setup.store_root }} (a rerun embeds only new images)</dd>
<dt>Reproducibility</dt>
<dd>every number but the throughput is fixed by the seed ({{ setup.seed }})</dd>
<dt>fmood version</dt><dd>{{ version }}; generated {{ generated }}</dd>
</dl>
</footer>
</main>
</body>
</html>
"""


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """The shown columns of ``table``, formatted for reading."""
    shown = {}
    for column, header, spec in _SHOWN:
        if column in table.columns:
            shown[header] = [_format(value, spec) for value in table[column]]
    return pd.DataFrame(shown)


def _format(value: Any, spec: str) -> str:
    if spec == "s":
        return str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if spec == "share":
        return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"
    if spec == "ratio":
        return f"{value:.1f}x"
    return format(value, spec)


def _css_class(header: str) -> str:
    if header in _NUMERIC_SHOWN:
        return "num"
    return "text wrap" if header in _WRAPPED else "text"


def _md_cell(value: str) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
