"""The report's HTML template (Jinja2, autoescaped): one file, inline CSS, no scripts.

Kept in a module rather than a package data file so it ships with the code wherever the
package is installed.
"""

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d1d1d; margin: 0; background: #f6f6f4; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 1.5rem 3rem; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 0.6rem; border-bottom: 1px solid #ddd;
     padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
p.sub { color: #555; margin: 0 0 1rem; }
.status { display: flex; align-items: center; gap: 1rem; padding: 1rem 1.2rem;
          border-radius: 6px; border: 2px solid; }
.status .light { flex: none; width: 2.4rem; height: 2.4rem; border-radius: 50%; }
.status .label { font-weight: 700; font-size: 1.2rem; text-transform: uppercase;
                 letter-spacing: 0.03em; }
.status p { margin: 0.2rem 0 0; font-size: 1.05rem; }
.status-in-distribution { border-color: #2e7d32; background: #edf7ee; }
.status-in-distribution .light { background: #2e7d32; }
.status-shifted { border-color: #b26a00; background: #fff6e0; }
.status-shifted .light { background: #f9a825; }
.status-strongly-shifted { border-color: #c62828; background: #fdecea; }
.status-strongly-shifted .light { background: #c62828; }
table { border-collapse: collapse; margin: 0.4rem 0 1rem; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f1f1ef; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; width: 80px; height: 0.7rem; background: #eee;
       vertical-align: middle; margin-right: 0.4rem; }
.bar span { display: block; height: 100%; background: #c62828; }
img.plot { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9rem; }
p.next { margin: 0.8rem 0 0.4rem; padding: 0.6rem 0.9rem; background: #f4f7fb;
         border-left: 4px solid #1f5fa8; }
.band { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: flex-start; }
.side { flex: 1 1 500px; min-width: 0; }
.side h3 { margin-top: 0.4rem; }
.case { border: 1px solid #ddd; border-radius: 6px; padding: 0.4rem; margin: 0 0 0.6rem;
        flex: 1 1 500px; box-sizing: border-box; }
.case h3 { margin: 0 0 0.3rem; font-size: 0.88rem; overflow-wrap: anywhere; }
.case-note { font-weight: normal; color: #555; }
.row { display: flex; gap: 0.3rem; }
.cell { width: 72px; flex: none; font-size: 0.68rem; line-height: 1.2; overflow-wrap: anywhere; }
.cell.target { width: 92px; border-right: 2px solid #1f5fa8; padding-right: 0.3rem; }
.cell img, .placeholder { display: block; width: 70px; height: 70px; object-fit: contain;
                          background: #111; }
.cell.target img, .cell.target .placeholder { width: 90px; height: 90px; }
.placeholder { background: #eee; color: #a00; font-size: 0.62rem; padding: 0.2rem;
               box-sizing: border-box; overflow: hidden; }
.cell dl { margin: 0.15rem 0 0; }
.cell dt { display: inline; color: #666; }
.cell dd { display: inline; margin: 0; }
.cell dd::after { content: "\\A"; white-space: pre; }
footer { margin-top: 2.5rem; border-top: 1px solid #ddd; padding-top: 0.8rem;
         font-size: 0.88rem; color: #333; }
footer dt { font-weight: 600; margin-top: 0.4rem; }
footer dd { margin: 0 0 0 1rem; overflow-wrap: anywhere; }
"""

REPORT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fmood report: {{ status }}</title>
<style>{{ css }}</style>
</head>
<body>
{% macro show_case(case) %}
<div class="case">
<h3>#{{ case.rank }}: {{ case.target.name }}{% if case.note %} <span class="case-note">{{ case.note }}</span>{% endif %}</h3>
<div class="row">
{% for cell in [case.target] + case.neighbors %}
<div class="cell{% if loop.first %} target{% endif %}">
{% if cell.thumbnail %}<img src="{{ cell.thumbnail }}" alt="{{ cell.name }}" title="{{ cell.path }}">{% else %}<div class="placeholder" title="{{ cell.path }}">image not shown: {{ cell.reason }}</div>{% endif %}
<dl>
{% for key, value in cell.fields %}<dt>{{ key }}:</dt> <dd>{{ value }}</dd>
{% endfor %}
</dl>
</div>
{% endfor %}
</div>
</div>
{% endmacro %}
<main>
<header>
<h1>Out-of-distribution report</h1>
<p class="sub">Target {{ target_name }} ({{ n_target }} images) against reference {{ reference_name }}
({{ n_reference }} images), backbone {{ backbone }}.</p>
</header>

<section id="verdict">
<h2>Verdict</h2>
<div class="status status-{{ status_class }}" role="status">
<div class="light"></div>
<div>
<div class="label">{{ status }}</div>
<p>{{ verdict }}</p>
</div>
</div>
<p class="next"><strong>What to do next.</strong> {{ next_steps }}</p>
<p class="note">Status rule: {{ status_rule }}</p>
</section>

<section id="degrees">
<h2>Distribution of OOD degrees</h2>
<img class="plot" src="{{ degree_plot }}" alt="Histogram of OOD degrees and cumulative distribution of surprise, target against the reference's calibration part">
<p class="note">Grey: the {{ n_calibration }} images of the reference's calibration part, each scored
leave-one-out against the others (uniform by construction). Blue: the target. A target like the
reference follows the grey; a shifted one piles up at degree 1 and its surprise curve moves right.
{{ n_flagged }} of {{ n_target }} target images are flagged at {{ alpha_percent }} false-discovery
rate.</p>
</section>

<section id="borderline">
<h2>Borderline images: the decisions to check</h2>
<p class="note">Images are flagged when their combined p-value is at or below the
Benjamini-Hochberg threshold {{ bh_threshold }} (surprise {{ bh_surprise }}). These are the images
nearest that threshold on either side, each beside its {{ k_neighbors }} nearest reference images
(a neighbour lists only the fields that differ from the target image). Distance: {{ metric }}.</p>
<div class="band">
<div class="side">
<h3>Just flagged ({{ borderline_flagged|length }})</h3>
{% for case in borderline_flagged %}{{ show_case(case) }}{% else %}<p>No image is flagged.</p>{% endfor %}
</div>
<div class="side">
<h3>Just not flagged ({{ borderline_clear|length }})</h3>
{% for case in borderline_clear %}{{ show_case(case) }}{% else %}<p>Every image is flagged.</p>{% endfor %}
</div>
</div>
</section>

<section id="top-ood">
<h2>Most out-of-distribution target images</h2>
<p class="note">The {{ top|length }} most surprising distinct cases: an image is left out when it
comes from the same file as a case shown above it, or lies nearer to that case than
{{ same_case_factor }}x its own distance to the reference (crops of one picture, slices of one
volume); the count of such similar images is given per case.</p>
<div class="band">
{% for case in top %}{{ show_case(case) }}{% endfor %}
</div>
</section>

<section id="groups">
<h2>Breakdown by metadata group</h2>
{% if groups %}
<p class="note">Metadata columns of the target with 2 to {{ max_group_values }} values (numeric
ones: up to {{ max_numeric_values }}){% if binned %}; numeric columns with more values cut into
{{ n_bins }} quantile bins ({{ binned|join(", ") }}){% endif %}.
The distance ratio compares the group with the whole reference ({{ method_label }}, ratio to its
null level), for groups of at least {{ min_group }} images.</p>
{% for group in groups %}
<h3>{{ group.column }}</h3>
<table>
<thead><tr><th>{{ group.column }}</th><th class="num">target images</th><th class="num">reference images</th>
<th>flagged</th><th class="num">median degree</th><th class="num">distance ratio</th><th class="num">p-value</th></tr></thead>
<tbody>
{% for row in group.rows %}
<tr><td>{{ row.value }}</td><td class="num">{{ row.n }}</td><td class="num">{{ row.n_reference }}</td>
<td><span class="bar"><span style="width: {{ row.flagged_width }}%"></span></span>{{ row.flagged }}</td>
<td class="num">{{ row.median_degree }}</td><td class="num">{{ row.ratio }}</td><td class="num">{{ row.p_value }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endfor %}
{% else %}
<p>The target's metadata has no column with 2 to {{ max_group_values }} distinct values (or
numeric values to bin) to break down by.</p>
{% endif %}
{% if left_out %}
<p class="note">Left out: {% for column, reason in left_out %}{{ column }} ({{ reason }}){% if not loop.last %}; {% endif %}{% endfor %}.</p>
{% endif %}
</section>

<section id="map">
<h2>Map of reference and target</h2>
<img class="plot" src="{{ map_plot }}" alt="Two-dimensional map of reference and target embeddings, flagged target images marked">
<p class="note">{{ map_note }}. Blue: target; red crosses: flagged target images; dark grey,
drawn on top and see-through: reference (where it covers the target, the target is like it).{% if map_subsampled %} A random subset of at most {{ map_max }} points per side is drawn.{% endif %}</p>
</section>

<section id="agreement">
<h2>Agreement between scorers</h2>
{% if agreement.names|length > 1 %}
<table>
<thead><tr><th>Spearman (raw scores)</th>{% for name in agreement.names %}<th class="num">{{ name }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in agreement.matrix %}
<tr><th>{{ row.name }}</th>{% for value in row.cells %}<td class="num">{{ value }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% for note in agreement_notes %}<p>{{ note }}</p>
{% endfor %}
{% else %}
<p>The detector has one scorer, so there is no agreement to measure.</p>
{% endif %}
<table>
<thead><tr><th>scorer</th><th class="num">Spearman with combined</th><th class="num">flagged alone</th>
<th class="num">of the combined flags</th><th class="num">shared top {{ n_top }}</th></tr></thead>
<tbody>
{% for record in agreement.records %}
<tr><td>{{ record.scorer }}</td><td class="num">{{ record.spearman }}</td><td class="num">{{ record.flagged_alone }}</td>
<td class="num">{{ record.of_combined }}</td><td class="num">{{ record.top_overlap }}</td></tr>
{% endfor %}
</tbody>
</table>
<p class="note">Spearman correlations are over the target images. "Flagged alone": share flagged
by the scorer's own p-values (Benjamini-Hochberg at the same rate); "of the combined flags": share
of the images the combined detector flags that the scorer also flags; "shared top": how many of the
combined top images are also in the scorer's own top.</p>
</section>

<footer id="about">
<h2>About this report</h2>
<dl>
<dt>OOD degree</dt>
<dd>{{ degree_definition }}</dd>
{% for key, value in about %}<dt>{{ key }}</dt>
<dd>{{ value }}</dd>
{% endfor %}
</dl>
</footer>
</main>
</body>
</html>
"""
