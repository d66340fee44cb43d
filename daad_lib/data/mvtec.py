"""MVTec AD (Bergmann et al., CVPR 2019) in its official folder layout, any category::

    <category>/train/good/000.png ...
    <category>/test/good/000.png, <category>/test/<defect>/000.png ...
    <category>/ground_truth/<defect>/000_mask.png ...

Items are dicts: ``image`` (C, S, S) in [-1, 1], ``label`` (0 good, 1 defective),
``mask`` (S, S) in {0, 1} (all zero for good images).
"""
from __future__ import annotations

from pathlib import Path

from .common import IMAGE_SUFFIXES, ImageFiles, to_model_range



# Magnetic-tile surface defects (Huang et al., 2020) live in their own folder of the data root,
# in the MVTec AD layout (not under mvtec_ad/): scripts/convert_magnetic_tile.py writes it, the
# experiments and the book read it. The folder's name, in one place:
MAGNETIC_TILE = "magnetic_tile"

class MVTecLayoutError(ValueError):
    """A folder that is not an MVTec AD category in the official layout."""


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def category_dir(root: str | Path, category: str | None) -> Path:
    """The category folder: ``root/category``, or ``root`` itself when it is one."""
    root = Path(root).expanduser()
    folder = root / category if category else root
    if not folder.is_dir():
        raise MVTecLayoutError(f"{folder} does not exist (expected an MVTec AD category folder "
                               f"such as mvtec_ad/bottle)")
    return folder


def list_split(folder: Path, split: str) -> list[tuple[Path, int, Path | None]]:
    """(image path, label, mask path or None) for every image of the split, sorted."""
    train_good = folder / "train" / "good"
    if not train_good.is_dir() or not (folder / "test").is_dir():
        raise MVTecLayoutError(
            f"{folder} is not in the MVTec AD layout: it needs train/good/ and test/<defect>/ "
            f"(and ground_truth/<defect>/ for the masks)")
    if not images_in(train_good):
        raise MVTecLayoutError(f"{train_good} holds no images: training needs normal images")
    if split == "train":
        return [(path, 0, None) for path in images_in(train_good)]
    if split != "test":
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    items = []
    for defect_dir in sorted(p for p in (folder / "test").iterdir() if p.is_dir()):
        for path in images_in(defect_dir):
            if defect_dir.name == "good":
                items.append((path, 0, None))
                continue
            mask = folder / "ground_truth" / defect_dir.name / f"{path.stem}_mask.png"
            if not mask.is_file():
                raise MVTecLayoutError(f"missing ground-truth mask {mask} for test image {path}")
            items.append((path, 1, mask))
    if not items:
        raise MVTecLayoutError(f"{folder / 'test'} holds no images")
    return items


class MVTecAD(ImageFiles):
    """One MVTec AD category.

    Args:
        root: the category folder, or the MVTec AD root when ``category`` is given.
        category: e.g. ``"bottle"``; None when ``root`` is the category folder.
        split: ``"train"`` (normal images only) or ``"test"``.
        image_size: images are resized to S x S (masks with nearest neighbour).
        channels: 3 (RGB, also for the grey categories) or 1.
        fit: ``"stretch"`` to S x S (the paper's), or ``"pad"`` (keep the aspect ratio; see
            :func:`~daad_lib.data.common.fit_box`).

    >>> test = MVTecAD("../shared/data/mvtec_ad", "bottle", split="test", image_size=128)  # doctest: +SKIP
    >>> item = test[0]; item["image"].shape, item["mask"].shape                             # doctest: +SKIP
    (torch.Size([3, 128, 128]), torch.Size([128, 128]))
    """

    def __init__(self, root: str | Path, category: str | None = None, split: str = "train",
                 image_size: int = 256, channels: int = 3, fit: str = "stretch"):
        self.folder = category_dir(root, category)
        self.category = category or self.folder.name
        self.split, self.image_size, self.channels, self.fit = split, image_size, channels, fit
        self.items = list_split(self.folder, split)
        self.transform = to_model_range(image_size, channels, fit)
