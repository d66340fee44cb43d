"""book/slides.py: slide types from the chapters' structure, MyST made plain, decks that fetch
nothing from the network. Offline: a stand-in reveal.js package and MathJax file in tmp_path
(CI builds the real decks with reveal.js from npm and opens them in Chromium offline)."""
from __future__ import annotations

import importlib.util
import io
import re
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("nbconvert")  # the book extra: step 1 of .ci/run installs only [test]
import nbformat  # noqa: E402
ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_slides", ROOT / "book" / "slides.py")
slides = importlib.util.module_from_spec(spec)
spec.loader.exec_module(slides)

MARKDOWN = """# A chapter title

The hook, with a citation {cite}`hou2021divide` and a value {glue:text}`auroc:.3f`.

:::{admonition} In this chapter
:class: tip
**You will be able to** read a score.
:::

## The maths

```{math}
:label: eq-score
R(x) = \\lVert x - \\hat x \\rVert^2
```

By {eq}`eq-score` and {term}`a block <glossary-block>`; see [chapter 2](02_toy_stripes.ipynb)
and [running](../book/running.md).

(a-target)=
### A smaller point

```python
print("a code block keeps :::{solution} as it is")
```

:::{exercise} Write R(x) · ★
:label: ex-r
Write the score.
:::

:::{solution} ex-r
:class: dropdown
THE SECRET SOLUTION

```python
SECRET_CODE = 1
```
:::
"""


def chapter() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    glue = nbformat.v4.new_output("display_data", data={"application/papermill.record/text/plain": "0.87654"},
                                  metadata={"scrapbook": {"name": "auroc", "mime_prefix": "application/papermill.record/"}})
    cells = [
        nbformat.v4.new_markdown_cell(MARKDOWN),
        nbformat.v4.new_code_cell("import secret_plumbing", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("EPOCHS = 8", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("glue('auroc', 0.87654)", outputs=[glue], metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("draw()", metadata={"tags": ["hide-input"]},
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="A PICTURE\n"),
                                           nbformat.v4.new_output("stream", name="stderr", text="PROGRESS BAR\n")]),
        nbformat.v4.new_code_cell("quiet()", metadata={"tags": ["hide-input"]}),
        nbformat.v4.new_code_cell("def my_score(x):\n    raise NotImplementedError", metadata={"tags": ["exercise"]}),
        nbformat.v4.new_code_cell("check('R', my_score)", metadata={"tags": ["check"]}),
        nbformat.v4.new_markdown_cell(":::{solution-start} ex-r\n:class: dropdown\n:::", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell("GATED_SOLUTION = 1"),
        nbformat.v4.new_markdown_cell(":::{solution-end}\n:::", metadata={"tags": ["solution"]}),
        nbformat.v4.new_markdown_cell("Given by the author.", metadata={"slideshow": {"slide_type": "fragment"}}),
        nbformat.v4.new_markdown_cell("## Summary\n\n- one"),
    ]
    nb.cells = cells
    return nb


def fake_reveal(path: Path) -> Path:
    """A tarball with reveal.js's npm layout (package/dist/..., package/plugin/notes/notes.js)."""
    files = {"package/dist/reveal.js": "window.Reveal = {};", "package/dist/reveal.css": ".reveal {}",
             "package/dist/theme/white.css": "@import url(./fonts/source-sans-pro/source-sans-pro.css);",
             "package/plugin/notes/notes.js": "window.RevealNotes = {};", "package/LICENSE": "MIT",
             "package/demo.html": "<html></html>", "package/dist/reveal.js.map": "{}"}
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_slide_types_and_plain_markdown():
    deck, missing = slides.slide_notebook(chapter(), chapter=3)
    assert missing == []
    kinds = [(c.cell_type, c.metadata["slideshow"]["slide_type"], c.source.splitlines()[0] if c.source else "")
             for c in deck.cells]
    assert kinds == [
        ("markdown", "slide", "# A chapter title"),
        ("markdown", "subslide", "**In this chapter**"),
        ("markdown", "slide", "## The maths"),
        ("markdown", "subslide", "### A smaller point"),
        ("markdown", "subslide", "**Exercise: Write R(x) · ★**"),
        ("code", "subslide", "draw()"),
        ("code", "subslide", "def my_score(x):"),
        ("markdown", "fragment", "Given by the author."),
        ("markdown", "slide", "## Summary"),
    ]
    text = "\n".join(c.source for c in deck.cells)
    assert "[hou2021divide]" in text and "0.877" in text
    assert "$$\nR(x) = \\lVert x - \\hat x \\rVert^2\n\\tag{3.1}\n$$" in text
    assert "By (3.1) and a block;" in text
    assert "](02_toy_stripes.slides.html)" in text and "](../book/running.html)" in text
    assert 'print("a code block keeps :::{solution} as it is")' in text
    for gone in ("SECRET", "GATED_SOLUTION", "secret_plumbing", "EPOCHS = 8", "check(", "quiet()",
                 ":class:", ":label:", "(a-target)=", "{cite}", "{eq}", "{glue"):
        assert gone not in text, gone
    drawn = next(c for c in deck.cells if c.source == "draw()")
    assert [o.get("text") for o in drawn.outputs] == ["A PICTURE\n"]  # stderr (progress bars) dropped


def test_long_code_with_outputs_shows_only_its_outputs():
    nb = nbformat.v4.new_notebook()
    long_source = "\n".join(f"x{i} = {i}" for i in range(slides.LONG_CODE_LINES + 1))
    picture = nbformat.v4.new_output("stream", name="stdout", text="A PICTURE\n")
    nb.cells = [nbformat.v4.new_markdown_cell("# T"),
                nbformat.v4.new_code_cell(long_source, outputs=[picture]),
                nbformat.v4.new_code_cell(long_source)]
    deck, _ = slides.slide_notebook(nb)
    assert deck.cells[1].metadata["transient"] == {"remove_source": True}  # long, with outputs
    assert "transient" not in deck.cells[2].metadata  # long, no outputs: the code is what there is


def test_missing_glue_is_reported():
    nb = chapter()
    nb.cells[3].outputs = []
    _, missing = slides.slide_notebook(nb)
    assert missing == ["auroc"]


def test_deck_fetches_nothing_from_the_network(tmp_path):
    notebook = tmp_path / "03_block_memory.ipynb"
    nbformat.write(chapter(), notebook)
    html_root = tmp_path / "html"
    (html_root / "_static" / "mathjax").mkdir(parents=True)
    (html_root / "_static" / "mathjax" / "tex-chtml.js").write_text("// the book's MathJax 3")
    (deck,) = slides.build([notebook], html_root / "slides", fake_reveal(tmp_path / "reveal.tgz"))
    html = deck.read_text()
    assert slides.external_references(html) == []
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"https?://(cdnjs|unpkg|cdn\.jsdelivr)", html)
    local = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']([^"']+)""", html)
    assert sorted(local) == ["../_static/mathjax/tex-chtml.js", "reveal.js/dist/reveal.css", "reveal.js/dist/reveal.js",
                             "reveal.js/dist/theme/white.css", "reveal.js/plugin/notes/notes.js"]
    for path in local:
        assert (deck.parent / path).is_file(), path
    assert not (deck.parent / "reveal.js" / "demo.html").exists()  # no stray pages beside the decks
    assert "SECRET" not in html and "0.877" in html


def test_external_references_are_found():
    for page in ['<script src="https://cdnjs.cloudflare.com/x.js"></script>',
                 "<link rel=stylesheet href='//unpkg.com/reveal.js/dist/reveal.css'>",
                 "<style>@import url(https://fonts.googleapis.com/css?family=Lato);</style>",
                 "<script type=module>import mermaid from 'https://cdn/x.mjs';</script>",
                 'require(["https://unpkg.com/reveal.js/dist/reveal.js"])']:
        assert slides.external_references(page), page
    assert slides.external_references('<a href="https://github.com/x">a link is not a fetch</a>') == []


def test_running_page_links_every_deck():
    page = (ROOT / "book" / "running.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"../slides/{notebook.stem}.slides.html" in page, notebook.stem
