"""Student copies of the chapters: the same notebooks without solutions and without outputs
(fastbook's ``clean/`` idea), ready to hand out and to grade.

    python book/student_copies.py --out _build/student            # every chapter
    python book/student_copies.py --out _build/student notebooks/02_toy_stripes.ipynb

What a copy leaves out, and how it finds it:

* every cell tagged ``solution`` (a checked exercise's ``:::{solution-start}`` ...
  ``:::{solution-end}`` block: the reference solution and its strict check);
* every ``:::{solution} label`` ... ``:::`` block inside a Markdown cell (the worked answers of
  the exercises without a check);
* all outputs, execution counts and saved widget state.

A copy refuses to be written if a ``solution-start`` / ``solution-end`` cell is left untagged,
so a new exercise cannot leak its solution. The copy keeps the stub (tag ``exercise``) and its
check (tag ``check``); every other code cell except the imports (the first code cell after
the install-if-missing cell of ``book/install_cell.py``) and the ``parameters`` cell is tagged
``otter_ignore``, so that grading (``book/grading.py``, otter-grader)
runs the setup and the exercises in seconds instead of training the chapter's models again.
A student who adds cells of their own gets them run too (they carry no tag).

Only the standard library is used (the notebooks are JSON), so the tests run without the
book's extras.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from pathlib import Path

from install_cell import TAG as INSTALL  # the install-if-missing cell (book/install_cell.py)

ROOT = Path(__file__).resolve().parents[1]
SOLUTION, EXERCISE, CHECK, IGNORE = "solution", "exercise", "check", "otter_ignore"
SOLUTION_BLOCK = re.compile(r"^:::\{solution\}[^\n]*\n.*?^:::[ \t]*(\n|$)", re.S | re.M)


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def read(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def strip_solution_blocks(text: str) -> str:
    """A Markdown cell without its ``:::{solution}`` blocks (and the blank line after one)."""
    stripped = SOLUTION_BLOCK.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", stripped).strip("\n") + ("\n" if text.endswith("\n") else "")


def student_copy(notebook: dict, name: str, links_to_root: str = "..") -> dict:
    """The student copy of one chapter (a new dict; ``notebook`` is not changed).

    ``links_to_root`` is the path from the copy's folder to the repository, for the chapters'
    relative links (``../book/running.md``)."""
    copy_ = copy.deepcopy(notebook)
    kept = []
    first_code = next(i for i, cell in enumerate(copy_["cells"])  # the imports
                      if cell["cell_type"] == "code" and INSTALL not in tags(cell))
    for number, cell in enumerate(copy_["cells"]):
        text = source(cell)
        if SOLUTION in tags(cell):
            continue
        if re.search(r"^:::\{solution-(start|end)\}", text, re.M):
            raise ValueError(f"{name}: cell {number} opens or closes a solution block but is not tagged "
                             f"'{SOLUTION}'; tag every cell of the block")
        if cell["cell_type"] == "markdown":
            text = strip_solution_blocks(text)
            if ":::{solution}" in text:
                raise ValueError(f"{name}: cell {number}: a solution block without its closing ':::'")
            text = text.replace("](../", f"]({links_to_root}/")
            cell["source"] = text
        elif cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            keep = number == first_code or {"parameters", EXERCISE, CHECK} & set(tags(cell))
            if not keep and IGNORE not in tags(cell):
                cell.setdefault("metadata", {}).setdefault("tags", []).append(IGNORE)
        kept.append(cell)
    header = {"cell_type": "markdown", "id": "student-copy", "metadata": {}, "source": (
        f"*Student copy of `notebooks/{name}.ipynb`, written by `book/student_copies.py`: the solutions "
        f"are left out. Write your code in the cells tagged `exercise` (they raise `NotImplementedError` "
        f"until you do) and run the check after each; it prints `pass`, `not yet` or what is wrong. "
        f"Your instructor grades the same checks with otter-grader (`book/grading.md`).*")}
    copy_["cells"] = [header] + kept
    copy_["metadata"].pop("widgets", None)
    copy_["metadata"]["daad_book"] = {"chapter": name, "student_copy": True}  # book/grading.py reads it
    return copy_


def solution_code(notebook: dict, function: str) -> str:
    """The reference solution of the exercise whose stub defines ``function``: the code cell
    tagged ``solution`` that defines it (for the tests and the grading check)."""
    for cell in notebook["cells"]:
        text = source(cell)
        if cell["cell_type"] == "code" and SOLUTION in tags(cell) and f"def {function}(" in text:
            return text
    raise LookupError(f"no solution cell defines {function}")


def filled(copy_: dict, chapter: dict, functions: list[str]) -> dict:
    """A student copy with each stub replaced by the chapter's reference solution: what a
    student who solved everything hands in."""
    result = copy.deepcopy(copy_)
    for function in functions:
        stubs = [cell for cell in result["cells"] if EXERCISE in tags(cell) and f"def {function}(" in source(cell)]
        if len(stubs) != 1:
            raise LookupError(f"expected one cell tagged '{EXERCISE}' defining {function}, found {len(stubs)}")
        stubs[0]["source"] = solution_code(chapter, function)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="chapters (default: notebooks/*.ipynb)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    links = Path(os.path.relpath(ROOT, args.out.resolve())).as_posix()
    for path in notebooks:
        target = args.out / path.name
        write(student_copy(read(path), path.stem, links), target)
        print(f"{path} -> {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
