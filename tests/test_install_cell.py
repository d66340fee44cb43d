"""The install-if-missing cell (book/install_cell.py): every chapter has it first, it installs
from the repository in _config.yml only where the library is missing, and student copies keep it
(their grading skips it)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import install_cell  # noqa: E402
import student_copies  # noqa: E402


def run_cell(source: str, monkeypatch, library_present: bool) -> list[list[str]]:
    """Execute the cell's code with pip replaced by a recorder; return the commands it ran."""
    commands = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real_find_spec(name, *a) if library_present or name != "daad_lib" else None))
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: commands.append(command))
    exec(compile(source, "install-cell", "exec"), {})
    return commands


def test_every_chapter_has_the_cell_for_the_configured_repository():
    assert install_cell.stale(install_cell.CHAPTERS, install_cell.cell_source()) == []
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f"git+{url.rstrip('/')}@" in install_cell.cell_source()


def test_a_changed_repository_makes_every_chapter_stale(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/some-lecturer/daad-book-fork"
    config["repository"]["branch"] = "winter-term"
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    source = install_cell.cell_source(tmp_path / "_config.yml")
    assert "git+https://github.com/some-lecturer/daad-book-fork@winter-term" in source
    assert len(install_cell.stale(install_cell.CHAPTERS, source)) == len(install_cell.CHAPTERS)


def test_the_cell_installs_only_where_the_library_is_missing(monkeypatch):
    source = install_cell.cell_source()
    assert run_cell(source, monkeypatch, library_present=True) == []
    commands = run_cell(source, monkeypatch, library_present=False)
    assert len(commands) == 1
    assert commands[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert commands[0][-1] == install_cell.requirement()


def test_update_inserts_the_cell_before_the_first_code_cell_and_is_idempotent(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                               nbformat.v4.new_code_cell("import torch")])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    assert install_cell.stale([path], "x = 1\n")  # no cell yet
    assert install_cell.update(path, "x = 1\n") is True
    assert install_cell.update(path, "x = 1\n") is False
    cells = nbformat.read(path, as_version=4).cells
    assert [cell.source for cell in cells] == ["# Title", "x = 1\n", "import torch"]
    assert install_cell.stale([path], "x = 1\n") == []


def test_student_copies_keep_the_cell_and_grading_skips_it():
    path = install_cell.CHAPTERS[1]
    copy_ = student_copies.student_copy(json.loads(path.read_text()), path.stem)
    install = [cell for cell in copy_["cells"] if install_cell.TAG in student_copies.tags(cell)]
    assert len(install) == 1 and student_copies.IGNORE in student_copies.tags(install[0])
    graded_code = [cell for cell in copy_["cells"] if cell["cell_type"] == "code"
                   and student_copies.IGNORE not in student_copies.tags(cell)]
    assert "import" in student_copies.source(graded_code[0])  # the imports still run when graded
