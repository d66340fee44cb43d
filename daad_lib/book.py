"""What the book's chapters share: finding the data, or falling back to committed results.

A reader without MVTec AD still gets a running chapter: the training cells use a
small stand-in (scikit-learn digits) and the chapter shows our committed results
for *bottle* instead of numbers it cannot compute.
"""
from __future__ import annotations

import json
from pathlib import Path

from .data import MVTecLayoutError, build_dataset, default_data_dir

RESULTS = Path(__file__).resolve().parents[1] / "results"

HOW_TO_GET_MVTEC = (
    "MVTec AD was not found. Download it from https://www.mvtec.com/company/research/datasets/mvtec-ad "
    "(CC BY-NC-SA 4.0), unpack it, and set DATA_DIR (or the DAAD_DATA_DIR environment variable) to the "
    "folder that holds the categories. Until then this chapter trains on scikit-learn's digits as a "
    "stand-in and shows our committed results for bottle.")


def bottle_or_standin(data_dir: str | None, image_size: int, category: str = "bottle"):
    """(train set, test set, description): MVTec AD ``category`` if found, else digits (class 8)."""
    root = Path(data_dir) if data_dir else default_data_dir()
    if root is not None:
        try:
            train = build_dataset("mvtec", "train", image_size, root, category)
            test = build_dataset("mvtec", "test", image_size, root, category)
            return train, test, f"MVTec AD {category}"
        except (MVTecLayoutError, FileNotFoundError):
            pass
    print(HOW_TO_GET_MVTEC)
    train = build_dataset("digits", "train", image_size, normal_class=8)
    test = build_dataset("digits", "test", image_size, normal_class=8)
    return train, test, "stand-in: scikit-learn digits, normal class 8"


def committed(name: str, protocol: str = "cpu") -> dict | None:
    """A committed results file ``results/<protocol>/<name>.json``, or None if it does not exist."""
    path = RESULTS / protocol / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def committed_markdown(name: str, protocol: str = "cpu") -> str:
    """The Markdown table written beside a results file, or a plain statement that it is missing."""
    path = RESULTS / protocol / f"{name}.md"
    if path.exists():
        return path.read_text()
    return f"*No committed results for `{name}` ({protocol} protocol) yet.*\n"
