"""Open every page of the built book in headless Chromium with the network switched off and
check that it needs none: no request may fail, the maths must be typeset by the bundled
MathJax, and every offline slider must change its picture when moved. Every picture must also
carry alt text and a caption (a reader with a screen reader gets the one, everyone the other).

    python book/check_offline_slider.py [--screenshots DIR]

Needs the built book (``bash book/build.sh``), Debian's ``chromium`` and the ``playwright``
Python package (used only as a driver for that browser; nothing is downloaded).
Exits 1 on any failed request, any page whose maths stays raw TeX or shows a MathJax error,
any slider that does not change its picture, and any picture without alt text or caption.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# MathJax 3 resolves this promise when the first typesetting pass has finished.
TYPESET = """() => window.MathJax && MathJax.startup && MathJax.startup.promise
    ? MathJax.startup.promise.then(() => [document.querySelectorAll('mjx-container').length,
                                          document.querySelectorAll('mjx-merror').length])
    : [0, 0]"""
SCREENSHOT_PAGE = "notebooks/03_block_memory.html"  # a chapter with display maths and sliders
# Every picture in a page's article (not the launch buttons' logos in the header): alt text and caption.
FIGURES = """() => Array.from(document.querySelectorAll('article.bd-article img')).map(img => {
    const figure = img.closest('figure');
    const caption = figure ? figure.querySelector('figcaption') : null;
    return {src: (img.getAttribute('src') || '').slice(0, 80), alt: (img.getAttribute('alt') || '').trim(),
            caption: caption ? caption.textContent.trim() : ''};
})"""
FILE_NAME = re.compile(r"\.(png|jpe?g|svg|gif)$", re.I)  # docutils' alt text when none was given


def figure_problems(name: str, figures: list[dict]) -> list[str]:
    """Pictures that a reader who cannot see them would miss: no alt text (or only the file's
    name, which docutils puts there by default), or no caption."""
    problems = []
    for number, figure in enumerate(figures, 1):
        where = f"{name}: picture {number} ({figure['src'][:40]}...)"
        alt = figure["alt"].strip()
        if not alt or alt == figure["src"] or FILE_NAME.search(alt):
            problems.append(f"{where} has no alt text: set the cell's mystnb.image.alt (or frame_slider's alt)")
        if not figure["caption"].strip():
            problems.append(f"{where} has no caption: set the cell's mystnb.figure.caption")
    return problems


def is_redirect(path: Path) -> bool:
    """A page that only forwards to another (Jupyter Book's root index.html: a meta refresh to
    the first chapter, which is checked itself). Opening one navigates away mid-check."""
    text = path.read_text(errors="replace")
    return len(text) < 1000 and 'http-equiv="refresh"' in text.lower()


def pages(root: Path = HTML) -> list[Path]:
    return sorted(p for p in root.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts and not is_redirect(p))


def check_page(context, path: Path, screenshots: Path | None) -> list[str]:
    """Problems found on one page (empty when it works offline)."""
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url} ({request.failure})"))
    page.goto(path.as_uri(), wait_until="load")
    name = path.relative_to(HTML).as_posix()
    problems: list[str] = []
    has_math = page.locator("div.math, span.math").count() > 0
    if has_math:
        typeset, errors = page.evaluate(TYPESET)
        if typeset == 0:
            problems.append(f"{name}: the page has maths but MathJax typeset none of it")
        if errors:
            problems.append(f"{name}: MathJax reported {errors} errors")
    sliders = page.locator("img[id^='_anim_img']")
    for index in range(sliders.count()):
        picture = sliders.nth(index)
        player = picture.locator("xpath=ancestor::div[contains(@class, 'animation')][1]")
        slider = player.locator("input[type=range]").first
        slider.scroll_into_view_if_needed()
        before = picture.get_attribute("src")
        if screenshots and name == "notebooks/02_toy_stripes.html" and index == 0:
            player.screenshot(path=str(screenshots / "slider_before.png"))
        slider.fill(slider.get_attribute("max"))  # fires the input event the player listens to
        after = picture.get_attribute("src")
        if screenshots and name == "notebooks/02_toy_stripes.html" and index == 0:
            player.screenshot(path=str(screenshots / "slider_after.png"))
        if not before or not before.startswith("data:image") or before == after:
            problems.append(f"{name}: offline slider {index + 1} did not change its picture")
    if screenshots and name == SCREENSHOT_PAGE and page.locator("div.math").count():
        equation = page.locator("div.math").first
        equation.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "offline_maths_page.png"))
        equation.screenshot(path=str(screenshots / "offline_maths_equation.png"))
    figures = page.evaluate(FIGURES)
    problems += figure_problems(name, figures)
    page.wait_for_timeout(200)  # let late requests (fonts of the typeset maths) be counted
    problems += [f"{name}: request failed offline: {url}" for url in failed]
    print(f"{name}: {len(failed)} failed requests, maths {'typeset' if has_math else 'none'}, "
          f"{sliders.count()} offline sliders, {len(figures)} pictures")
    page.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", default=None, help="folder for the PNGs of the check")
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not (HTML / "index.html").exists():
        print(f"{HTML} holds no built book: run bash book/build.sh first", file=sys.stderr)
        return 1
    screenshots = Path(args.screenshots) if args.screenshots else None
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=args.browser, args=CHROMIUM_FLAGS)
        context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
        checked = pages()
        for path in checked:
            problems += check_page(context, path, screenshots)
        browser.close()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(checked)} pages checked offline: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
