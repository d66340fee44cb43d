"""book/student_copies.py: the chapters without solutions or outputs (fast: no execution;
tests/test_grading.py executes and grades the copies)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from daad_lib.exercises import EXERCISES, by_chapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import student_copies  # noqa: E402
from student_copies import filled, read, solution_code, source, student_copy, tags  # noqa: E402

CHAPTERS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    student_copies.main(["--out", str(out)])
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_copy_has_no_solution_and_no_output(copies, chapter):
    copy_ = read(copies / f"{chapter}.ipynb")
    text = json.dumps(copy_)
    assert ":::{solution" not in text and "solution-start" not in text and "solution-end" not in text
    assert not any("solution" in tags(cell) for cell in copy_["cells"])
    for cell in copy_["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "widgets" not in copy_["metadata"] and copy_["metadata"]["daad_book"]["chapter"] == chapter
    for exercise in by_chapter(chapter):  # no reference solution under its own name either
        assert sum(f"def {exercise.function}(" in source(cell) for cell in copy_["cells"]) == 1


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_copy_keeps_the_lesson_and_the_stubs_and_grading_runs_only_setup_and_exercises(copies, chapter):
    chapter_nb, copy_ = read(ROOT / "notebooks" / f"{chapter}.ipynb"), read(copies / f"{chapter}.ipynb")
    kept = [cell for cell in chapter_nb["cells"] if "solution" not in tags(cell)]
    assert [cell.get("id") for cell in copy_["cells"][1:]] == [cell.get("id") for cell in kept]
    run = [cell for cell in copy_["cells"] if cell["cell_type"] == "code" and "otter_ignore" not in tags(cell)]
    exercises = by_chapter(chapter)
    assert len(run) == 2 + 2 * len(exercises)  # the imports, the parameters, each stub and its check
    assert "parameters" in tags(run[1])
    for exercise in exercises:
        (stub,) = [cell for cell in run if "exercise" in tags(cell)]
        assert "raise NotImplementedError" in source(stub)
        namespace = {}
        exec(source(stub), namespace)
        with pytest.raises(NotImplementedError):
            namespace[exercise.function](*([None] * namespace[exercise.function].__code__.co_argcount))


def test_markdown_solution_blocks_go_and_the_rest_stays():
    text = ("Before.\n\n:::{exercise} A\n:label: ex-a\n\nAsk.\n:::\n\n:::{solution} ex-a\n:class: dropdown\n\n"
            "```python\nx = 1\n```\n\nAnswer.\n:::\n\n:::{exercise} B\n:label: ex-b\nMore.\n:::\n")
    assert student_copies.strip_solution_blocks(text) == (
        "Before.\n\n:::{exercise} A\n:label: ex-a\n\nAsk.\n:::\n\n:::{exercise} B\n:label: ex-b\nMore.\n:::\n")


def test_an_untagged_solution_block_is_an_error():
    notebook = {"metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": "import torch", "outputs": [], "execution_count": 1},
        {"cell_type": "markdown", "metadata": {}, "source": ":::{solution-start} ex-x\n:::"}]}
    with pytest.raises(ValueError, match="not tagged 'solution'"):
        student_copy(notebook, "test")


def test_relative_links_point_back_into_the_repository(copies):
    text = "".join(source(cell) for cell in read(copies / "01_reconstruction.ipynb")["cells"])
    assert "](../book/running.md)" not in text
    link = text.split("/book/running.md)")[0].rsplit("](", 1)[1]
    assert (copies / link / "book" / "running.md").resolve() == (ROOT / "book" / "running.md").resolve()


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_filled_puts_the_reference_solution_into_the_stub(copies, name):
    exercise = EXERCISES[name]
    chapter_nb = read(ROOT / "notebooks" / f"{exercise.chapter}.ipynb")
    done = filled(read(copies / f"{exercise.chapter}.ipynb"), chapter_nb, [exercise.function])
    (stub,) = [cell for cell in done["cells"] if "exercise" in tags(cell)]
    assert source(stub) == solution_code(chapter_nb, exercise.function)
    assert "NotImplementedError" not in source(stub)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_kept_cell_reads_a_name_only_a_removed_solution_cell_defined(chapter):
    """The cheap stand-in for executing every copy: a name that a solution cell assigns (a
    function, a variable) and no kept cell assigns must not be read by a kept cell, or the
    student copy would stop there with a NameError. tests/test_grading.py executes the copies."""
    import ast
    chapter_nb = read(ROOT / "notebooks" / f"{chapter}.ipynb")
    code = [cell for cell in chapter_nb["cells"] if cell["cell_type"] == "code"]

    def parsed(cell):
        lines = [line for line in source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))]
        return ast.parse("\n".join(lines))

    def assigned(tree):
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        return names

    removed = set().union(*[assigned(parsed(c)) for c in code if "solution" in tags(c)] or [set()])
    kept_trees = [parsed(c) for c in code if "solution" not in tags(c)]
    only_in_solutions = removed - set().union(*[assigned(t) for t in kept_trees] or [set()])
    read_by_kept = {node.id for tree in kept_trees for node in ast.walk(tree)
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    assert not only_in_solutions & read_by_kept, sorted(only_in_solutions & read_by_kept)
