"""Shared fixtures: a tiny MVTec-layout folder the tests build themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daad_lib.data import default_data_dir

torch.set_num_threads(2)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def tiny_mvtec(tmp_path: Path) -> Path:
    """A category "widget": 6 train/good, test/good 2, test/crack 3 with masks; 32x32 RGB."""
    rng = np.random.default_rng(0)
    root = tmp_path / "mvtec" / "widget"
    smooth = lambda: np.full((32, 32, 3), 120, np.uint8) + rng.integers(0, 8, (32, 32, 3), dtype=np.uint8)
    for i in range(6):
        write_png(root / "train" / "good" / f"{i:03d}.png", smooth())
    for i in range(2):
        write_png(root / "test" / "good" / f"{i:03d}.png", smooth())
    for i in range(3):
        image, mask = smooth(), np.zeros((32, 32), np.uint8)
        image[8:16, 8:16] = 255
        mask[8:16, 8:16] = 255
        write_png(root / "test" / "crack" / f"{i:03d}.png", image)
        write_png(root / "ground_truth" / "crack" / f"{i:03d}_mask.png", mask)
    return root


def shared_data(*parts: str) -> Path:
    """A path under the shared data folder, or skip the test when it is absent."""
    root = default_data_dir()
    if root is None or not root.joinpath(*parts).exists():
        pytest.skip(f"shared data {'/'.join(parts)} not available")
    return root.joinpath(*parts)
