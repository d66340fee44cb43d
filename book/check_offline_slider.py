"""Open the built toy-stripes chapter in headless Chromium with the network switched off,
move the division-rate slider and check that the picture changes.

    python book/check_offline_slider.py [--page notebooks/02_toy_stripes.html] [--screenshots DIR]

Needs the built book (``bash book/build.sh``), Debian's ``chromium`` and the ``playwright``
Python package (used only as a driver for that browser; nothing is downloaded).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="notebooks/02_toy_stripes.html")
    parser.add_argument("--screenshots", default=None, help="folder for before/after PNGs")
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    page_path = ROOT / "_build" / "html" / args.page
    if not page_path.exists():
        print(f"{page_path} not found: build the book first (bash book/build.sh)", file=sys.stderr)
        return 1
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=args.browser, args=CHROMIUM_FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        failed = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(page_path.as_uri())
        slider = page.locator("input[type=range]").first
        picture = page.locator("img[id^='_anim_img']").first
        player = picture.locator("xpath=ancestor::div[contains(@class, 'animation')][1]")
        slider.scroll_into_view_if_needed()
        before = picture.get_attribute("src")
        position = slider.input_value()
        if args.screenshots:
            Path(args.screenshots).mkdir(parents=True, exist_ok=True)
            player.screenshot(path=str(Path(args.screenshots) / "slider_before.png"))
        last = slider.get_attribute("max")
        slider.fill(last)  # sets the value and fires the input event the player listens to
        after = picture.get_attribute("src")
        if args.screenshots:
            player.screenshot(path=str(Path(args.screenshots) / "slider_after.png"))
        browser.close()
    print(f"slider moved from {position} to {last}; picture changed: {before != after}; "
          f"{len(failed)} network requests failed offline (e.g. MathJax from a CDN), the slider needs none")
    if before == after or not before or not before.startswith("data:image"):
        print("the offline slider did not change the picture", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
