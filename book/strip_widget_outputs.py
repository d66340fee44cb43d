"""Drop live-only ipywidgets outputs (tqdm bars, interact) from executed notebooks.

A widget's saved output is only its initial text (a progress bar at 0%), which would
mislead in the static book. The live notebooks keep their widgets; this runs on the
executed copies before ``jupyter-book build``.

    python book/strip_widget_outputs.py notebooks/*.ipynb
"""
from __future__ import annotations

import sys

import nbformat

WIDGET = "application/vnd.jupyter.widget-view+json"


def strip(path: str) -> int:
    notebook = nbformat.read(path, as_version=4)
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = [out for out in cell.get("outputs", []) if WIDGET not in out.get("data", {})]
        removed += len(cell.outputs) - len(kept)
        cell.outputs = kept
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return removed


if __name__ == "__main__":
    for notebook_path in sys.argv[1:]:
        print(f"{notebook_path}: removed {strip(notebook_path)} widget outputs")
