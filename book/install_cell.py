"""The first code cell of every chapter: where the library is missing (Colab, a JupyterHub, any
hosted notebook opened straight from the repository), it installs it; elsewhere it does nothing.

    python book/install_cell.py            # write or update the cell in every chapter
    python book/install_cell.py --check    # exit 1 naming each chapter whose cell is stale

The cell installs from ``repository.url`` and ``repository.branch`` in ``_config.yml``, the
setting the launch buttons use: an instructor who points the book at their own copy of the
repository changes it there, runs this script once, and every chapter follows.
``tests/test_install_cell.py`` fails when a chapter's cell and ``_config.yml`` disagree.

The cell calls pip through ``subprocess`` rather than ``%pip``: it stays plain Python, so
papermill, nbval, the student copies and otter-grader run it unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TAG = "install-if-missing"
TAGS = [TAG, "remove-cell"]  # the built book's reader already has the library: hide the cell

CELL = '''\
# Hosted notebooks (Colab, a JupyterHub) start without this book's library: install it from the
# book's repository. Where it is installed already, this cell does nothing.
# (Written by book/install_cell.py from _config.yml; change the repository there.)
import importlib
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("daad_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{requirement}"], check=True)
    importlib.invalidate_caches()
'''


def requirement(config_path: Path = ROOT / "_config.yml") -> str:
    """pip's requirement for the repository named in ``_config.yml``, with the book's extras."""
    import yaml  # the book's extras (Jupyter Book); book/student_copies.py imports TAG without them

    repository = yaml.safe_load(config_path.read_text())["repository"]
    url, branch = repository["url"].rstrip("/"), repository.get("branch", "main")
    return f"daad-book[book] @ git+{url}@{branch}"


def cell_source(config_path: Path = ROOT / "_config.yml") -> str:
    """The install cell's code for the repository in ``_config.yml``."""
    return CELL.format(requirement=requirement(config_path))


def install_cell_index(notebook) -> int | None:
    """Index of the chapter's install cell, or None if it has none."""
    for index, cell in enumerate(notebook.cells):
        if TAG in cell.metadata.get("tags", []):
            return index
    return None


def update(path: Path, source: str) -> bool:
    """Put the install cell with ``source`` first among the chapter's code cells (after its
    title cell). Returns True if the file changed."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    index = install_cell_index(notebook)
    if index is not None:
        if notebook.cells[index].source == source:
            return False
        notebook.cells[index].source = source
    else:
        first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(TAGS)})
        notebook.cells.insert(first_code, cell)
    nbformat.write(notebook, path)
    return True


def stale(paths: list[Path], source: str) -> list[str]:
    """The chapters whose install cell is missing or differs from ``source``."""
    import nbformat

    problems = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        index = install_cell_index(notebook)
        first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
        if index is None:
            problems.append(f"{path.name}: no install cell (tag {TAG!r})")
        elif notebook.cells[index].source != source:
            problems.append(f"{path.name}: its install cell is not the one _config.yml's repository gives")
        elif index != first_code:
            problems.append(f"{path.name}: the install cell is not the first code cell")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report chapters whose cell is stale")
    args = parser.parse_args()
    source = cell_source()
    if args.check:
        problems = stale(CHAPTERS, source)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python book/install_cell.py", file=sys.stderr)
        sys.exit(1 if problems else 0)
    changed = [path.name for path in CHAPTERS if update(path, source)]
    print(f"install cell written to {len(changed)} of {len(CHAPTERS)} chapters: {requirement()}")


if __name__ == "__main__":
    main()
