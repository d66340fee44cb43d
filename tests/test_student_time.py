"""book/student_time.py: student time counted from the notebooks, one row per chapter."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("nbconvert")  # the book extra: step 1 of .ci/run installs only [test]
import nbformat  # noqa: E402
ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("student_time", ROOT / "book" / "student_time.py")
student_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_time)


def test_counts_what_a_student_sees(tmp_path):
    nb = nbformat.v4.new_notebook()
    prose = " ".join(["word"] * 400)
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Title\n\n{prose}\n\n```{{math}}\n:label: eq-a\nx = 1\n```\n"),
        nbformat.v4.new_code_cell("a = 1\nb = 2", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("\n".join(f"x{i} = {i}" for i in range(20))),
        nbformat.v4.new_markdown_cell("## Check your understanding\n\n1. one?\n2. two?\n\n## Exercises\n\n"
                                      ":::{exercise} Easy · ★\n:label: ex-1\nDo it.\n:::\n\n"
                                      ":::{solution} ex-1\n" + " ".join(["hidden"] * 1000) + "\n:::\n\n"
                                      ":::{exercise} Hard · ★★★ · checked\n:label: ex-2\nDo more.\n:::\n"),
    ]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    c = student_time.count(path)
    assert c["equations"] == 1 and c["code_lines"] == 20 and c["questions"] == 2
    assert c["exercise_stars"] == [1, 3]
    assert 400 < c["words"] < 440  # the solution's 1,000 words are not read
    m = student_time.minutes(c)
    assert m["exercises"] == 10 + 40 and m["questions"] == 6
    assert m["reading"] == pytest.approx(c["words"] / 200 + 1 + 1)


def test_every_chapter_has_a_row_and_every_exercise_is_counted():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    text = student_time.table(notebooks)
    for notebook in notebooks:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{notebook.stem}`"))
        blocks = len(re.findall(r"^\s*:{3,}\s*\{exercise\}", "\n".join(
            c.source for c in nbformat.read(notebook, 4).cells if c.cell_type == "markdown"), re.M))
        assert f"| {blocks} (" in row, (notebook.stem, row)
    assert "**all chapters**" in text and "200 words a minute" in text
    assert (ROOT / "book" / "student_time.md").exists()  # included by running.md
