"""A one-file thumbnail panel: a query image beside its nearest stored images."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from fmood.report.thumbnails import ThumbnailMaker
from fmood.utils.atomic import write_atomic

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fmood neighbours of {{ query.name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }
.row { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 1.5em; }
.tile { width: 150px; font-size: 12px; overflow-wrap: anywhere; }
.tile img, .missing { width: 128px; height: 128px; object-fit: contain; background: #111; }
.missing { background: #ddd; display: flex; align-items: center; padding: 4px; }
.query { border-right: 4px solid #1f6feb; padding-right: 12px; }
</style></head><body>
<h1>Nearest stored images</h1>
{% for q in queries %}
<section class="row" id="query-{{ loop.index0 }}">
  <div class="tile query">
    {% if q.thumb.data_uri %}<img alt="query" src="{{ q.thumb.data_uri }}">
    {% else %}<div class="missing">{{ q.thumb.reason }}</div>{% endif %}
    <div><b>{{ query.name }}</b>{% if q.frame is not none %} frame {{ q.frame }}{% endif %}</div>
    {% for label, value in q.fields %}<div>{{ label }}: {{ value }}</div>{% endfor %}
  </div>
  {% for n in q.neighbors %}
  <div class="tile">
    {% if n.thumb.data_uri %}<img alt="neighbour {{ n.rank }}" src="{{ n.thumb.data_uri }}">
    {% else %}<div class="missing">{{ n.thumb.reason }}</div>{% endif %}
    <div>#{{ n.rank }} id {{ n.id }}, distance {{ n.distance }}</div>
    {% for label, value in n.fields %}<div>{{ label }}: {{ value }}</div>{% endfor %}
  </div>
  {% endfor %}
</section>
{% endfor %}
</body></html>
"""
)
_HIDDEN = ("query", "rank", "id", "distance", "file_sha256")


def write_panel(
    out: Path,
    image_path: str,
    frames: list[int | None],
    query_fields: list[list[tuple[str, str]]],
    neighbours: pd.DataFrame,
) -> None:
    """Write the panel for ``image_path`` (one row per frame) and its neighbour table.

    ``neighbours`` is :meth:`fmood.store.Neighbors.table` (columns query, rank, id, distance
    and the store's metadata, with ``path`` and ``frame`` used for thumbnails).
    """
    thumbnail = ThumbnailMaker()
    queries = []
    for q, (frame, fields) in enumerate(zip(frames, query_fields, strict=True)):
        rows = neighbours[neighbours["query"] == q]
        queries.append(
            {
                "frame": frame,
                "fields": fields,
                "thumb": thumbnail(image_path, frame),
                "neighbors": [
                    {
                        "rank": int(row["rank"]),
                        "id": int(row["id"]),
                        "distance": f"{float(row['distance']):.4g}",
                        "thumb": thumbnail(
                            row.get("path"), row.get("frame"), row.get("pixels_withheld")
                        ),
                        "fields": [
                            (str(k), str(v))
                            for k, v in row.items()
                            if k not in _HIDDEN and pd.notna(v)
                        ],
                    }
                    for _, row in rows.iterrows()
                ],
            }
        )
    html = _TEMPLATE.render(query={"name": str(image_path)}, queries=queries)
    write_atomic(Path(out), lambda tmp: tmp.write_text(html, encoding="utf-8"))
