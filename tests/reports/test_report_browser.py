"""report.html in headless Chromium: after load, the page's own script counts the figures whose plot
rendered marks with a non-zero bounding box; every figure must have rendered, and there must be at
least one per required plot. Skipped with the reason when Chromium is not installed, except in CI
(CI=true), which installs it (.ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.reporting import write_report
from tests.reports.helpers import REQUIRED_PLOTS, SAMPLE_MANIFEST, page_structure

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    """The headless browser's path; skip (fail in CI) when there is none."""
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found is None:
        reason = f"no headless Chromium on PATH (looked for {', '.join(BROWSERS)}); install the Debian package chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " - CI must have it")
        pytest.skip(reason)
    return found


def rendered_dom(browser: str, page: Path, scratch: Path) -> str:
    """The DOM after load. Output goes to files, not pipes: Chromium's helper processes keep inherited
    pipes open for seconds after the browser exits."""
    scratch.mkdir(parents=True, exist_ok=True)
    dom, log = scratch / "dom.html", scratch / "chromium.log"
    with open(dom, "w", encoding="utf-8") as out, open(log, "w", encoding="utf-8") as err:
        code = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={scratch / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
             page.resolve().as_uri()], stdout=out, stderr=err, timeout=120).returncode
    text = dom.read_text(encoding="utf-8")
    assert code == 0 and "<body" in text, log.read_text(encoding="utf-8")[-3000:]
    return text


def test_every_figure_renders_in_headless_chromium(planted_warehouse: Path, tmp_path: Path) -> None:
    browser = chromium()
    files = write_report(planted_warehouse, "pytest-browser", SAMPLE_MANIFEST)
    static = page_structure(files.report_html.read_text(encoding="utf-8"))
    dom = page_structure(rendered_dom(browser, files.report_html, tmp_path))
    assert "data-figures" in dom.body, "the page script did not run"
    figures, rendered = int(dom.body["data-figures"]), int(dom.body["data-figures-rendered"])
    not_rendered = [f["plot"] for f in dom.figures if f["rendered"] != "true"]
    assert rendered == figures == len(static.figures) == files.figures, not_rendered
    assert figures >= len(REQUIRED_PLOTS)
