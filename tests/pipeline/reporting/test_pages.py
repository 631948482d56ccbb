"""The pages a person reads: a run page and the runs index, checked as text and in a real browser."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from testkit import run_cli

from pipeline.reporting.pages import cell, html_table

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots of the browser test (git-ignored)
FAST = ["--set", "mlp.max_epochs=3"]
BROKEN_IMAGES = "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).map(i => i.src)"
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished runs on the tiny sample: their output folder."""
    tmp_path = tmp_path_factory.mktemp("pages")
    assert run_cli(tmp_path, "--stage", "all", *FAST) == 0
    assert run_cli(tmp_path, "--stage", "all", *FAST, "--set", "lgbm.num_leaves=4") == 0
    return tmp_path / "out"


def test_cells_show_no_nan_and_no_float_noise():
    assert [cell(np.nan), cell(None), cell(np.float32(0.123456)), cell(np.int64(7))] == [
        "—",
        "—",
        "0.1235",
        "7",
    ]
    table = html_table(
        pd.DataFrame({"a": [0.1, np.nan], "b": ["x", "y"]}, index=["r1", "r2"]), highlight=["r2"]
    )
    assert "nan" not in table.lower() and "<tr class='worst'><td class='text'>r2" in table


def test_the_run_page_answers_how_good_how_honest_how_long(two_runs):
    page = next(two_runs.glob("sample-*/report/index.html")).read_text()
    needed = ["OOF log loss", "honesty", "seconds", "from cache", "Blend weights", "class='bar'"]
    needed += ["all-OOF weights", "duplicated photometry", "simulated holdout", "class='worst'"]
    for text in needed:
        assert text in page, text
    assert not re.search(r">\s*nan\s*<", page, re.I) and "http" not in page.split("<main>")[0]  # no CDN


def test_the_index_lists_every_run_with_a_link_to_its_page(two_runs):
    index = (two_runs / "index.html").read_text()
    ledger = pd.read_csv(two_runs / "ledger.csv", dtype=str)
    assert all(run in index for run in ledger["run_id"])
    links = re.findall(r"href='([^']+)'", index)
    assert len(links) == 2 and all((two_runs / link).is_file() for link in links)
    assert "lgbm.num_leaves=4" in index and "table class='sortable'" in index


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_pages_render_in_a_real_browser(two_runs):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test's client)")
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine: apt-get install chromium (the browser test drives it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    run_page = next(two_runs.glob("sample-*/report/index.html"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=BROWSER_FLAGS)
        try:
            for name, path in (("index", two_runs / "index.html"), ("run-page", run_page)):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors = watch_errors(page)
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
                assert not errors, errors
                assert page.evaluate("document.body.innerText.trim().length") > 200, f"{name} looks blank"
                assert not page.evaluate(BROKEN_IMAGES), f"{name}: an image did not load"
                if name == "index":
                    check_sorting_and_compare(page)
        finally:
            browser.close()


def watch_errors(page) -> list[str]:
    """Console errors and uncaught exceptions of a page, as they happen."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def check_sorting_and_compare(page):
    """Clicking a model column sorts the rows by it; ticking two runs shows the compare command."""
    header = page.locator("th", has_text="lgbm").first
    column = page.evaluate(
        "Array.from(document.querySelectorAll('th')).findIndex(th => th.textContent.startsWith('lgbm'))"
    )
    header.click()
    cells = f"Array.from(document.querySelectorAll('tbody tr')).map(r => r.cells[{column}].textContent)"
    ascending = [float(text) for text in page.evaluate(cells)]
    header.click()
    descending = [float(text) for text in page.evaluate(cells)]
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    boxes = page.locator("input.pick")
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert "--stage compare --runs" in page.locator("#compare").inner_text()
