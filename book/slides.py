"""Slides per chapter: reveal.js decks from the executed chapters, working offline.

    python book/slides.py                   # every notebooks/*.ipynb -> _build/html/slides/
    python book/slides.py --check           # ... then open every deck offline in Chromium
    python book/slides.py notebooks/03_block_memory.ipynb --out /tmp/slides

Run it after the chapters are executed (``bash book/build.sh``): a deck shows the outputs stored
in the notebook. Each deck is written by nbconvert's ``SlidesExporter`` (what
``jupyter nbconvert --to slides`` runs) with a template, ``book/slides_template/daad_reveal.html.j2``, that loads
nothing from the network:

- reveal.js comes from the npm registry at build time (``npm pack reveal.js@REVEAL_VERSION``,
  its sha512 checked against the pinned one, cached in ``_build/vendor/``) and is placed beside
  the decks in ``slides/reveal.js/`` (its ``dist/`` and the speaker-notes plugin);
- MathJax 3 is the copy Jupyter Book's sphinx-mathjax-offline put into ``_build/html/_static``,
  or, without a built book, the same files copied from that package into ``slides/mathjax/``;
- nbconvert's CDN script tags (jQuery, require.js, mermaid, the widget manager) are left out.

The chapters carry no slide metadata, so this script assigns the slide types (cells that already
have ``slideshow`` metadata keep it, and are not split):

- a Markdown cell is split at its headings and at its top-level directives (admonitions,
  exercises); a piece that starts with ``#`` or ``##`` starts a new slide, every other piece is
  a sub-slide below it (reveal.js: right for the next section, down within one);
- a code cell is a sub-slide; its input is left out for ``hide-input``/``remove-input`` and when
  it is longer than ``LONG_CODE_LINES`` lines and has outputs (the picture is the point on a slide;
  the code is in the book), its outputs for ``remove-output``; a cell left with nothing to show
  is dropped;
- dropped: ``remove-cell``, the ``parameters`` cell, the ``check`` cells, every solution
  (``solution`` tags, ``{solution}`` blocks, everything between ``{solution-start}`` and
  ``{solution-end}``), glue's hidden outputs, live-widget outputs and stderr (progress bars);
- MyST for the book becomes plain Markdown for nbconvert: ``{glue:text}`` and ``{glue:md}``
  take the values glued in the executed notebook, ``{math}`` blocks become numbered ``$$``
  blocks (``\\tag``, numbered per chapter as the book does) and ``{eq}`` their numbers,
  ``{cite}`` keys go in brackets, other roles keep their text.
"""
from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "html" / "slides"
VENDOR = ROOT / "_build" / "vendor"
TEMPLATE = ROOT / "book" / "slides_template" / "daad_reveal.html.j2"
REVEAL_VERSION = "4.6.1"
REVEAL_SHA512 = "1CW0auaXNPmwmvQ7TwpszwVxMi2Xr5cTS3J3EBC/HHgbPF32Dn7aiu/LKWDOGjMbaDwKQiGmfqcoGQ74HUHCMw=="
MATHJAX_PACKAGE = "sphinx-mathjax-offline"  # its static/mathjax is MathJax 3 (tex-chtml.js)

DROP_TAGS = {"remove-cell", "parameters", "check", "solution"}
HIDE_INPUT_TAGS = {"hide-input", "remove-input"}
HIDE_OUTPUT_TAGS = {"remove-output"}
LONG_CODE_LINES = 12  # a longer code cell with outputs shows only its outputs (the code is in the book)
HEADING = re.compile(r"^(#{1,6})\s")
FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})\s*(\{([\w:-]+)\})?\s*(.*)$")
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")


# --- the chapters' MyST, as plain Markdown ------------------------------------------------------

def glued_values(nb) -> dict[str, dict]:
    """name -> output data of every value glued in the executed notebook (myst-nb's ``glue``)."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:  # keys like application/papermill.record/text/plain
                prefix = output["metadata"]["scrapbook"].get("mime_prefix", "")
                values[name] = {k[len(prefix):] if k.startswith(prefix) else k: v
                                for k, v in output.get("data", {}).items()}
    return values


def glue_text(data: dict, spec: str) -> str:
    """A glued value as text, formatted like ``{glue:text}`name:spec```."""
    if "text/markdown" in data:
        return "".join(data["text/markdown"])
    text = "".join(data.get("text/plain", ""))
    if spec:
        try:
            return format(float(text), spec)
        except ValueError:
            pass
    return text.strip("'\"")


class MystToMarkdown:
    """Rewrites one chapter's Markdown; equation numbers run through the whole chapter."""

    def __init__(self, glue: dict[str, dict], chapter: int | None):
        self.glue, self.chapter = glue, chapter
        self.equations: dict[str, str] = {}
        self.missing: list[str] = []

    def number(self, label: str | None) -> str:
        n = f"{len(self.equations) + 1}"
        tag = f"{self.chapter}.{n}" if self.chapter else n
        self.equations[label or f"_unlabelled{n}"] = tag
        return tag

    def role(self, match: re.Match) -> str:
        name, text = match.group(1), match.group(2)
        if name.startswith("glue"):
            key, _, spec = text.partition(":")
            if key not in self.glue:
                self.missing.append(key)
                return f"[{key}]"
            return glue_text(self.glue[key], spec)
        if name == "eq":
            return f"({self.equations.get(text, text)})"
        if name in ("cite", "cite:p", "cite:t"):
            return f"[{text}]"
        if name == "math":
            return f"${text}$"
        return re.sub(r"\s*<[^>]*>$", "", text)  # {term}`text <target>`, {ref}, {doc}: the text

    def number_equations(self, text: str) -> None:
        """First pass: number the chapter's {math} blocks so {eq} can refer forwards."""
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = FENCE.match(line)
            if m and m.group(4) == "math":
                label = next((l.split(":label:", 1)[1].strip() for l in lines[i + 1:i + 4]
                              if l.strip().startswith(":label:")), None)
                self.number(label)

    def convert(self, text: str) -> str:
        """Directives and roles of one Markdown piece, rewritten."""
        out: list[str] = []
        stack: list[tuple[str, str]] = []  # (closing fence, directive name; "" for a code block)
        dropped = 0  # how many of the open directives are dropped ones (solutions)
        math_label: str | None = None
        options = False  # the lines right after a directive opens may be its options
        for line in text.splitlines():
            top = stack[-1] if stack else None
            if top and line.strip() == top[0]:  # the innermost block closes
                stack.pop()
                if dropped:
                    dropped -= 1
                elif top[1] == "math":
                    tag = self.equations.get(math_label or "", "")
                    out += [f"\\tag{{{tag}}}"] if tag else []
                    out.append("$$")
                elif top[1] == "":
                    out.append(line)
                else:
                    out.append("")
                continue
            if top and top[1] == "":  # inside a code block: as it is (unless in a dropped block)
                if not dropped:
                    out.append(line)
                continue
            m = FENCE.match(line)
            if m and (m.group(3) or m.group(2)[0] == "`"):  # a block opens
                fence, name, title = m.group(2), m.group(4) or "", m.group(5).strip()
                stack.append((fence, name))
                options = bool(name)
                if dropped or name.startswith("solution"):
                    dropped += 1
                elif name == "math":
                    math_label = None
                    out.append("$$")
                elif name == "":
                    out.append(line)
                elif name == "exercise":
                    out.append(f"**Exercise: {self.inline(title)}**" if title else "**Exercise**")
                else:
                    out.append(f"**{self.inline(title)}**" if title else "")
                continue
            if dropped:
                continue
            if options and re.match(r"^\s*:[\w-]+:", line):
                if ":label:" in line:
                    math_label = line.split(":label:", 1)[1].strip()
                continue  # a directive's option (:class:, :label:), right after its opening line
            options = False
            if re.match(r"^\s*\([\w-]+\)=\s*$", line):
                continue  # a MyST target
            out.append(line if top and top[1] == "math" else self.inline(line))
        return "\n".join(out).strip()

    def inline(self, line: str) -> str:
        line = ROLE.sub(self.role, line)
        # links between chapters and to the book's pages, as seen from _build/html/slides/
        line = re.sub(r"\]\((\d\d_[\w-]+)\.ipynb", r"](\1.slides.html", line)
        return re.sub(r"\]\(\.\./book/([\w-]+)\.md", r"](../book/\1.html", line)


def split_markdown(text: str) -> list[str]:
    """Pieces of a Markdown cell: a new piece at each heading and top-level directive."""
    pieces: list[list[str]] = [[]]
    fence: str | None = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None:
            starts = HEADING.match(line) or (m and m.group(4) and m.group(4) not in ("math", "solution", "solution-start", "solution-end"))
            if starts and any(l.strip() for l in pieces[-1]):
                pieces.append([])
            if m and (m.group(3) or m.group(2)[0] == ":"):
                fence = m.group(2)
            elif m and m.group(2)[0] == "`":
                fence = m.group(2)
        elif line.strip() == fence:
            fence = None
        pieces[-1].append(line)
    return ["\n".join(p).strip() for p in pieces if any(l.strip() for l in p)]


# --- slide types ------------------------------------------------------------------------------

def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def shown_outputs(outputs: list) -> list:
    """Outputs worth a slide: not glue's hidden values, live widgets or stderr."""
    kept = []
    for output in outputs:
        if output.get("metadata", {}).get("scrapbook"):
            continue
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {}):
            continue
        kept.append(output)
    return kept


def chapter_number(path: Path) -> int | None:
    m = re.match(r"(\d+)_", path.name)
    return int(m.group(1)) if m else None


def slide_notebook(nb, chapter: int | None = None):
    """A copy of ``nb`` with slide types assigned and the book's plumbing removed; also the
    glue names it could not find (none in an executed chapter)."""
    nb = copy.deepcopy(nb)
    myst = MystToMarkdown(glued_values(nb), chapter)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            myst.number_equations(cell.source)
    cells = []
    in_solution = False
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "markdown" and re.search(r"^\s*:{3,}\s*\{solution-start\}", source, re.M):
            in_solution = True
        if in_solution:
            if cell.cell_type == "markdown" and re.search(r"^\s*:{3,}\s*\{solution-end\}", source, re.M):
                in_solution = False
            continue
        if tags(cell) & DROP_TAGS:
            continue
        given = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        if cell.cell_type == "markdown":
            pieces = [source] if given else split_markdown(source)
            for piece in pieces:
                text = myst.convert(piece)
                if not text.strip():
                    continue
                kind = given or ("slide" if re.match(r"^#{1,2}\s", text) or not cells else "subslide")
                cells.append(nbformat.v4.new_markdown_cell(text, metadata={"slideshow": {"slide_type": kind}}))
        elif cell.cell_type == "code":
            cell = copy.deepcopy(cell)
            cell.outputs = [] if tags(cell) & HIDE_OUTPUT_TAGS else shown_outputs(cell.get("outputs", []))
            hide_input = bool(tags(cell) & HIDE_INPUT_TAGS) or (
                len(cell.source.splitlines()) > LONG_CODE_LINES and bool(cell.outputs))
            if hide_input:
                cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
                cell.metadata["transient"] = {"remove_source": True}
            if not cell.outputs and (hide_input or not cell.source.strip()):
                continue
            cell.metadata["slideshow"] = {"slide_type": given or "subslide"}
            cells.append(cell)
    nb.cells = cells
    return nb, sorted(set(myst.missing))


# --- reveal.js and MathJax, local --------------------------------------------------------------

def reveal_tarball() -> Path:
    """reveal.js's npm package, from the cache or ``npm pack``, its sha512 checked."""
    VENDOR.mkdir(parents=True, exist_ok=True)
    tarball = VENDOR / f"reveal.js-{REVEAL_VERSION}.tgz"
    if not tarball.exists():
        subprocess.run(["npm", "pack", f"reveal.js@{REVEAL_VERSION}", "--silent",
                        "--pack-destination", str(VENDOR)], check=True, stdout=subprocess.DEVNULL)
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != REVEAL_SHA512:
        tarball.unlink()
        raise RuntimeError(f"{tarball.name}: sha512 {digest} is not the pinned {REVEAL_SHA512}")
    return tarball


def install_reveal(out: Path, tarball: Path | None = None) -> Path:
    """reveal.js's dist/ and speaker-notes plugin into ``out/reveal.js``; returns that folder."""
    target = out / "reveal.js"
    if (target / "dist" / "reveal.js").exists():
        return target
    tarball = tarball or reveal_tarball()
    wanted = ("package/dist/", "package/plugin/notes/notes.js", "package/LICENSE")
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name
            if member.isfile() and name.startswith(wanted) and not name.endswith((".map", ".html", ".esm.js")):
                dest = target / name[len("package/"):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as source:
                    dest.write_bytes(source.read())
    return target


def mathjax_prefix(out: Path) -> str:
    """URL of tex-chtml.js relative to the decks: the built book's copy, else a copy of the package's."""
    book_copy = out.parent / "_static" / "mathjax" / "tex-chtml.js"
    if book_copy.exists():
        return "../_static/mathjax/tex-chtml.js"
    target = out / "mathjax"
    if not (target / "tex-chtml.js").exists():
        package = next(Path(p) / MATHJAX_PACKAGE / "static" / "mathjax" for p in sys.path
                       if (Path(p) / MATHJAX_PACKAGE / "static" / "mathjax").is_dir())
        shutil.copytree(package, target, dirs_exist_ok=True)
    return "mathjax/tex-chtml.js"


# --- the decks ----------------------------------------------------------------------------------

def exporter(mathjax_url: str):
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config()
    config.SlidesExporter.reveal_url_prefix = "reveal.js"
    config.SlidesExporter.reveal_scroll = True
    config.SlidesExporter.reveal_theme = "white"  # its fonts ship with reveal.js ("simple" imports Google Fonts)
    config.SlidesExporter.reveal_number = "c/t"
    config.HTMLExporter.mathjax_url = mathjax_url
    config.HTMLExporter.embed_images = True  # Markdown images inside the deck, not beside it
    return SlidesExporter(config=config, template_file=str(TEMPLATE))


def build(notebooks: list[Path], out: Path = OUT, reveal_tarball_path: Path | None = None) -> list[Path]:
    """One deck per notebook in ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    install_reveal(out, reveal_tarball_path)
    slides = exporter(mathjax_prefix(out))
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        deck, missing = slide_notebook(nb, chapter_number(path))
        if missing:
            print(f"{path.name}: glued values not found (is the chapter executed?): {', '.join(missing)}",
                  file=sys.stderr)
        body, _ = slides.from_notebook_node(deck, resources={"metadata": {"name": path.stem}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        n_slides = sum(c.metadata["slideshow"]["slide_type"] == "slide" for c in deck.cells)
        print(f"{target.relative_to(out.parent) if out.parent in target.parents else target}: "
              f"{n_slides} slides, {len(deck.cells)} cells")
        written.append(target)
    return written


EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//"""
                      r"""|@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//|\bimport\b[^;\n]*\bfrom\s*["'](?:https?:)?//"""
                      r"""|\brequire\(\s*\[?\s*["'](?:https?:)?//""", re.I)


def external_references(html: str) -> list[str]:
    """Scripts, styles, images or imports the page would fetch from the network."""
    return [html[max(0, m.start() - 20):m.end() + 60] for m in EXTERNAL.finditer(html)]


def check(decks: list[Path], browser: str | None = None) -> list[str]:
    """Open every deck with the network off: no failed request, no script error, reveal.js
    ready with its slides, and the maths typeset where the deck has any."""
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=browser or shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        context = chromium.new_context(offline=True, viewport={"width": 1100, "height": 800})
        for deck in decks:
            page = context.new_page()
            failed, errors = [], []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(deck.as_uri(), wait_until="load")
            try:
                page.wait_for_function("() => window.Reveal && Reveal.isReady && Reveal.isReady()", timeout=15000)
                total = page.evaluate("() => Reveal.getTotalSlides()")
            except Exception as error:  # noqa: BLE001 - reported below
                total = 0
                errors.append(f"reveal.js not ready: {error}")
            html = deck.read_text(encoding="utf-8")
            typeset = 0
            if "$" in html:
                try:
                    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                           timeout=15000)
                    typeset = page.evaluate("""() => MathJax.startup.promise.then(
                        () => document.querySelectorAll('mjx-container').length)""")
                except Exception as error:  # noqa: BLE001 - reported below
                    errors.append(f"MathJax did not start: {error}")
                if not typeset:
                    problems.append(f"{deck.name}: maths in the deck, none typeset")
            page.wait_for_timeout(200)
            problems += [f"{deck.name}: request failed offline: {url}" for url in failed]
            problems += [f"{deck.name}: script error: {e}" for e in errors]
            problems += [f"{deck.name}: {ref!r} is fetched from the network" for ref in external_references(html)]
            if total < 2:
                problems.append(f"{deck.name}: {total} slides")
            print(f"{deck.name}: {total} slides, {typeset} equations typeset, {len(failed)} failed requests")
            page.close()
        chromium.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.relative_to(ROOT)}")
    parser.add_argument("--check", action="store_true", help="open every deck offline in Chromium")
    parser.add_argument("--browser", default=None, help="Chromium's path (default: chromium on PATH)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    decks = build(notebooks, args.out)
    problems = [f"{deck.name}: {ref!r} is fetched from the network"
                for deck in decks for ref in external_references(deck.read_text(encoding="utf-8"))]
    if args.check:
        problems += check(decks, args.browser)  # the network check above counts too
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(decks)} decks in {args.out}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
