"""Screenshots of a run page and of the runs index for the README (docs/run-page.png, docs/runs-index.png).

Make the pages first with the pipeline on the built-in sample, then photograph them with the system's
Chromium through Playwright (no browser download):

    python pipeline/run.py --stage all && python tools/screenshots.py [--out-dir submissions]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def newest_run_page(out_dir: Path) -> Path:
    pages = sorted(out_dir.glob("*/report/index.html"), key=lambda path: path.stat().st_mtime)
    if not pages:
        raise SystemExit(f"no run page under {out_dir}: run python pipeline/run.py --stage all first")
    return pages[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("submissions"))
    args = parser.parse_args()
    shots = {
        "runs-index.png": (args.out_dir / "index.html", 560),
        "run-page.png": (newest_run_page(args.out_dir), 1000),
    }
    DOCS.mkdir(exist_ok=True)
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=FLAGS)
        for name, (page_path, height) in shots.items():
            page = browser.new_page(viewport={"width": 1200, "height": height}, device_scale_factor=0.75)
            page.goto(page_path.resolve().as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(DOCS / name))
            print(f"wrote {DOCS / name} ({(DOCS / name).stat().st_size // 1024} KiB) from {page_path}")
        browser.close()


if __name__ == "__main__":
    main()
