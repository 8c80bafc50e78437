"""The page: every section present, self-contained, valid, and every data string escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report.helpers import ODD_COLUMN, ODD_VENDOR

SECTIONS = {
    "verdict": "Verdict",
    "degrees": "Distribution of OOD degrees",
    "borderline": "Borderline images: the decisions to check",
    "top-ood": "Most out-of-distribution target images",
    "groups": "Breakdown by metadata group",
    "map": "Map of reference and target",
    "agreement": "Agreement between scorers",
    "about": "About this report",
}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class _Checker(HTMLParser):
    """Collects ids, h2 texts, img sources and nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: dict[str, str] = {}
        self.sources: list[str] = []
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            if attrs["id"] in self.ids:
                self.errors.append(f"duplicate id {attrs['id']}")
            self.ids[attrs["id"]] = tag
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if tag == "h2":
            self._in_h2, self.h2 = True, [*self.h2, ""]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._in_h2:
            self.h2[-1] += data


def _parse(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return checker


@pytest.fixture(scope="module")
def shifted_html(shifted_report) -> str:
    return shifted_report.html_path.read_text(encoding="utf-8")


def test_every_section_is_there_in_order(shifted_html):
    page = _parse(shifted_html)
    for section_id in SECTIONS:
        assert section_id in page.ids
    assert page.h2 == list(SECTIONS.values())
    order = [shifted_html.index(f'id="{section_id}"') for section_id in SECTIONS]
    assert order == sorted(order)


def test_the_verdict_comes_first_with_its_status(shifted_report, shifted_html):
    verdict = shifted_html[shifted_html.index('id="verdict"') : shifted_html.index('id="degrees"')]
    assert "status-strongly-shifted" in verdict and "strongly shifted" in verdict
    assert "farther from the reference" in verdict


@pytest.mark.parametrize("report", ["shifted_report", "in_dist_report"])
def test_the_page_is_valid_and_self_contained(report, request):
    text = request.getfixturevalue(report).html_path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = _parse(text)
    assert page.errors == [] and page.stack == []
    lowered = text.lower()
    for forbidden in (
        "<script",
        "<link",
        "http://",
        "https://",
        "<iframe",
        "<object",
        "url(",
        "@import",
        " on",
        "javascript:",
    ):
        if forbidden == " on":  # no inline event handlers such as onload=
            assert not re.search(r"\son[a-z]+\s*=", lowered)
        else:
            assert forbidden not in lowered
    assert page.sources and all(s.startswith("data:image/png;base64,") for s in page.sources)


def test_file_names_and_metadata_values_are_escaped(shifted_html):
    assert "<script" not in shifted_html and "alert(1)</script>" not in shifted_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in shifted_html  # the full path, escaped
    assert ODD_VENDOR not in shifted_html
    escaped = "GE &#34;Signa&#34; &amp; &lt;Co&gt;"
    assert shifted_html.count(escaped) >= 2  # in the group table and under thumbnails
    assert ODD_COLUMN not in shifted_html and "<i>" not in shifted_html
    assert "notes &lt;i&gt;&amp;&#34;&lt;/i&gt;" in shifted_html  # a column name


def test_unreadable_images_become_placeholders_with_their_reason(shifted_html):
    top = shifted_html[shifted_html.index('id="top-ood"') : shifted_html.index('id="groups"')]
    cases = top.split('<div class="case">')[1:]
    assert 3 <= len(cases) <= 12
    by_name = {case.split("</h3>")[0]: case for case in cases}

    def thumbnail_of(name: str) -> str:
        [case] = [case for title, case in by_name.items() if name in title]
        return case.split("<dl>")[0]

    assert '<img src="data:image/png' in thumbnail_of("script&gt;.png")
    assert "image not shown: file not found" in thumbnail_of("missing.png")
    assert "image not shown: not a readable image" in thumbnail_of("img0002.png")
    assert all(case.count('class="cell') == 1 + 5 for case in cases)


def test_the_footer_names_backbone_version_and_degree(shifted_html):
    footer = shifted_html[shifted_html.index('id="about"') :]
    assert "synthetic-backbone" in footer and "abab" in footer
    assert "fmood version" in footer and "0.999" in footer and "99.9%" in footer
    assert "alpha=0.05" in footer and "seed=0" in footer and "Run time" in footer


def test_the_in_distribution_page_shows_a_green_status(in_dist_report):
    text = in_dist_report.html_path.read_text(encoding="utf-8")
    assert "status-in-distribution" in text


def test_generated_sentences_are_escaped_too(tmp_path, reference_store, in_dist_store, monkeypatch):
    from fmood.report import build as build_module
    from fmood.report import build_report

    monkeypatch.setattr(
        build_module, "next_steps", lambda *args: f"check site = {ODD_VENDOR} <script>x</script>"
    )
    report = build_report(
        reference_store, in_dist_store, tmp_path / "out", progress=False, n_bootstrap=10
    )
    text = report.html_path.read_text(encoding="utf-8")
    assert "<script" not in text and ODD_VENDOR not in text
    assert "check site = GE &#34;Signa&#34; &amp; &lt;Co&gt; &lt;script&gt;x" in text


def test_the_style_sheet_is_not_mangled_by_escaping(shifted_html):
    style = shifted_html[shifted_html.index("<style>") : shifted_html.index("</style>")]
    assert '"Segoe UI"' in style and "&#34;" not in style
