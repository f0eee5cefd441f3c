"""The reports in a real browser: Debian's chromium driven by Playwright's Python client
(`executable_path`, never a downloaded browser). The page loads without console errors, every
image decodes, failures come first, and screenshots are kept in deeplab-results/browser/ (or
$DEEPLAB_ARTIFACTS) as CI artefacts.

Needs: `apt-get install chromium` and `pip install playwright` (in the `test` extra); skipped
with the reason when either is missing. CHROMIUM=/path overrides /usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO
from report_helpers import MODEL, build_synthetic_report, run_record
from test_compare import bench, saved_run

from pytest_deeplab.report.html import write_report

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine's notes give for headless chromium on a closed network, as root.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("DEEPLAB_ARTIFACTS") or REPO / "deeplab-results" / "browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def open_page(browser: Any, path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


def undecoded_images(page: Any) -> list[str]:
    result: list[str] = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.alt || i.src.slice(0, 60))")
    return result


def keep_screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_run_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    deeplab, log = build_synthetic_report(tmp_path)
    report = write_report(tmp_path / "report.html", run_record(deeplab), log)
    page, problems = open_page(browser, report)
    assert problems == []
    count = page.evaluate("document.images.length")
    assert count == 4 * 5 - 2
    assert undecoded_images(page) == []
    # failures first: the list of failures, then the failing model, then its failing image
    assert page.locator("nav.failures li").count() == 4
    order = page.evaluate(
        "Array.from(document.querySelectorAll('nav.failures, h2#summary, article.image-card'))"
        ".map(e => e.id || e.tagName)")
    assert order[:3] == ["NAV", "summary", f"img-{MODEL}-scene_01"]
    first = page.locator("article.image-card").first
    assert first.locator(".badge").first.inner_text().strip().endswith("FAIL")
    # badges say it in words, not only in colour
    badges = set(page.locator(".badge").all_inner_texts())
    assert {"✘ FAIL", "✔ PASS"} <= {b.strip() for b in badges}
    assert page.get_by_role("link", name=f"{MODEL} · scene_01 mask").is_visible()
    shot = keep_screenshot(page, "report.png")
    assert shot.stat().st_size > 10_000
    page.close()


def test_trends_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from pytest_deeplab.report.trends import load_trends, render_html

    storage = tmp_path / ".benchmarks" / "env"
    for i, (tf, median) in enumerate((("2.15.1", 0.050), ("2.18.0", 0.049), ("2.21.0", 0.057))):
        saved_run(storage / f"{i:04d}.json", tf, [bench("dm05", median, 2 * median, miou=0.94),
                                                  bench("mini", median / 6, median / 3)],
                  when=f"2025-0{i + 1}-01T00:00:00")
    html = tmp_path / "trends.html"
    html.write_text(render_html(load_trends([tmp_path / ".benchmarks"])), encoding="utf-8")
    page, problems = open_page(browser, html)
    assert problems == []
    assert page.evaluate("document.images.length") == 4
    assert undecoded_images(page) == []
    keep_screenshot(page, "trends.png")
    page.close()
