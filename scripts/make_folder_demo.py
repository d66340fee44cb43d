"""Write a small generated folder dataset, as a practitioner's own images would look.

    python scripts/make_folder_demo.py /tmp/cells     # -> /tmp/cells/good/..., /tmp/cells/defect/...

"Solar cells": a grid of busbars and fingers on a noisy background, seen at slightly
different positions and sizes (80-140 px), half of them grey and half colour, in nested
folders. Defective cells carry a dark crack; no masks. Seeded: the same files every time.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def cell(rng: np.random.Generator, size: int, cracked: bool) -> np.ndarray:
    """One (size, size) grey cell in [0, 255]."""
    rows, cols = np.mgrid[0:size, 0:size]
    shift = rng.integers(0, 6)
    image = 150 + 12 * rng.standard_normal((size, size))
    image[(cols + shift) % (size // 3) < 3] = 225  # busbars
    image[(rows + shift) % 8 == 0] = 195  # fingers
    if cracked:
        start, slope = rng.uniform(0.2, 0.8) * size, rng.uniform(-1.5, 1.5)
        along = rng.uniform(0.3, 0.7) * size
        line = np.abs(rows - (start + slope * (cols - size / 2))) < 1.5
        image[line & (np.abs(cols - size / 2) < along / 2)] = 40
    return np.clip(image, 0, 255).astype(np.uint8)


def write(folder: Path, name: str, grey: np.ndarray, colour: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(grey)
    if colour:  # a bluish cell
        image = Image.merge("RGB", [image.point(lambda v: v * 0.6), image.point(lambda v: v * 0.8), image])
    image.save(folder / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--normal", type=int, default=60)
    parser.add_argument("--defective", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    root = Path(args.root)
    for i in range(args.normal):
        write(root / "good" / f"line{i % 3}", f"cell_{i:03d}.png", cell(rng, int(rng.integers(80, 141)), False), i % 2 == 1)
    for i in range(args.defective):
        write(root / "defect", f"crack_{i:03d}.png", cell(rng, int(rng.integers(80, 141)), True), i % 2 == 1)
    print(f"wrote {args.normal} normal and {args.defective} defective cells under {root}")


if __name__ == "__main__":
    main()
