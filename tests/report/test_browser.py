"""The written report renders in headless Chromium: every image loads, nothing fails.

Chromium comes from Debian's ``chromium`` package (``make unit`` installs it when it can);
Playwright drives that binary (no browser download). Without either, the test is skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deepfit import Classifier, Regressor
from deepfit.report.report import write_report
from tests.support.tables import FAST_CLASSIFIER, make_label_table

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def render(browser: Any, path: Path) -> dict[str, Any]:
    """Open ``path``; the problems seen, each image's (alt, complete, naturalWidth), a shot."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else 0)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    response = page.goto(path.resolve().as_uri(), wait_until="load", timeout=15_000)
    assert response is not None
    assert response.ok
    result = {
        "images": page.evaluate(
            "Array.from(document.images, i => [i.alt, i.complete, i.naturalWidth])"
        ),
        "sections": page.evaluate("Array.from(document.querySelectorAll('section'), s => s.id)"),
        "screenshot": page.screenshot(full_page=True),
        "problems": problems,
    }
    page.close()
    return result


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH; install Debian's package: apt-get install -y chromium",
)
def test_report_renders_in_headless_chromium(
    tmp_path: Path, fitted: Regressor, rows: tuple[pd.DataFrame, pd.Series]
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    path = write_report(fitted, *rows, tmp_path / "report.html")
    # the same page with one broken image and one remote one: the checks must catch both
    broken = tmp_path / "broken.html"
    html = path.read_text(encoding="utf-8")
    start = html.index('<img src="') + len('<img src="')
    html = html[:start] + "data:image/png;base64,AAAA" + html[html.index('"', start) :]
    broken.write_text(html.replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    with sync_api.sync_playwright() as driver:
        # --no-sandbox: Chromium's sandbox refuses to start as root (CI runs as root)
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            good, bad = render(browser, path), render(browser, broken)
        finally:
            browser.close()

    assert good["problems"] == []
    assert len(good["images"]) == 6
    assert all(complete and width > 0 for _, complete, width in good["images"]), good["images"]
    assert good["sections"] == ["metrics", "fit", "learning", "importance", "intervals", "settings"]
    shot = good["screenshot"]
    assert shot.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(shot) > 50_000  # a full page of charts, not a blank one
    (tmp_path / "report.png").write_bytes(shot)

    assert bad["problems"]  # the remote image is refused by the page's content policy
    assert [width for _, _, width in bad["images"]].count(0) == 2


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH; install Debian's package: apt-get install -y chromium",
)
def test_a_classifier_s_report_renders_with_its_sections(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    frame = make_label_table(300, seed=0, classes=3)
    X, y = frame.drop(columns="label"), frame["label"]
    model = Classifier(**FAST_CLASSIFIER).fit(X, y)
    path = write_report(model, X.head(120), y.head(120), tmp_path / "report.html")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = render(browser, path)
        finally:
            browser.close()
    assert page["problems"] == []
    assert page["sections"] == [
        "metrics", "confusion", "reliability", "classes", "learning", "importance", "sets",
        "settings",
    ]  # fmt: skip
    assert all(complete and width > 0 for _, complete, width in page["images"]), page["images"]
    assert len(page["images"]) == 4  # confusion, reliability, learning curves, importance
