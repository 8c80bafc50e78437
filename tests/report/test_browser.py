"""The report in a real browser: headless Chromium, offline.

Chromium comes from the Debian packages ``chromium`` / ``chromium-driver`` (.ci/run
installs them and sets FMOOD_REQUIRE_BROWSER=1, so there a missing browser fails instead
of skipping). The page is loaded from disk with background networking off and a network
log on; a report must make no request at all, log no console error, and show the verdict,
plots and neighbour panels, with a script-like file name as text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report.helpers import SCRIPT_NAME

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("FMOOD_REQUIRE_BROWSER") != "1":
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


#: A page that requests a remote image and logs a console error: proves both detectors work.
CONTROL_PAGE = """<!DOCTYPE html><html><body><img src="http://fmood-control.invalid/x.png">
<script>console.error("fmood-control-error")</script></body></html>"""
CONTROL_URL = "http://fmood-control.invalid/x.png"


class Elements(HTMLParser):
    """Counts tags and ids and collects the text and attribute values of a dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.ids: set[str] = set()
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.ids.update(v for k, v in attrs if k == "id" and v)
        self.values.extend(v for _, v in attrs if v)

    def handle_data(self, data):
        self.values.append(data)


def load_in_chromium(html: Path, tmp: Path) -> tuple[Elements, list[str], list[tuple[str, str]]]:
    """The DOM after loading, the console lines, and (traffic annotation, URL) of requests.

    Host names resolve nowhere (``--host-resolver-rules``), so nothing leaves the machine;
    the network log still records every request that was attempted.
    """
    assert CHROMIUM is not None, "FMOOD_REQUIRE_BROWSER=1 but chromium is not installed"
    netlog = tmp / f"{html.stem}.netlog.json"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={netlog}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Elements()
    dom.feed(done.stdout)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert netlog.exists(), "chromium wrote no network log"
    requests = re.findall(
        r'"traffic_annotation":(\d+),"url":"([^"]*)"', netlog.read_text(errors="replace")
    )
    return dom, console, requests


@pytest.fixture(scope="module")
def page_loader_annotation(tmp_path_factory) -> str:
    """The traffic annotation Chromium gives requests a page makes (not its own services)."""
    tmp = tmp_path_factory.mktemp("control")
    page = tmp / "control.html"
    page.write_text(CONTROL_PAGE)
    _, console, requests = load_in_chromium(page, tmp)
    assert any("fmood-control-error" in line for line in console), console
    annotations = {a for a, url in requests if url == CONTROL_URL}
    assert len(annotations) == 1, requests
    return annotations.pop()


@pytest.fixture(scope="module")
def loaded(shifted_report, tmp_path_factory):
    return load_in_chromium(shifted_report.html_path, tmp_path_factory.mktemp("chromium"))


def test_verdict_plots_and_neighbour_panels_render(loaded):
    dom, _, _ = loaded
    for section in (
        "verdict",
        "degrees",
        "borderline",
        "top-ood",
        "groups",
        "map",
        "agreement",
        "about",
    ):
        assert section in dom.ids, section
    assert dom.tags.get("img", 0) >= 10  # plots and thumbnails, all inline


def test_no_console_message_and_no_request_from_the_page(loaded, page_loader_annotation):
    _, console, requests = loaded
    assert console == []
    assert [url for a, url in requests if a == page_loader_annotation] == []


def test_a_script_like_file_name_is_text_not_code(loaded):
    dom, _, _ = loaded
    assert dom.tags.get("script", 0) == 0
    assert any(SCRIPT_NAME in value for value in dom.values)
