"""Pieces every dataset shares: the data root, image loading, the [-1, 1] transform and
the dataset of listed image files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import transforms

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class CorruptImageError(ValueError):
    """An image file that PIL cannot decode."""


def default_data_dir() -> Path | None:
    """Where datasets live: ``$DAAD_DATA_DIR``, else ``../shared/data`` (next to the
    working directory or to this repository) when it exists, else None."""
    if os.environ.get("DAAD_DATA_DIR"):
        return Path(os.environ["DAAD_DATA_DIR"]).expanduser()
    repo = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd() / ".." / "shared" / "data", repo / ".." / "shared" / "data"):
        if candidate.is_dir():
            return candidate.resolve()
    return None


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """The data root to use, or a clear error saying how to give one."""
    path = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if path is None:
        raise FileNotFoundError("no data directory: pass --data-dir (or data_dir=...) or set "
                                "DAAD_DATA_DIR to the folder that holds the datasets")
    if not path.is_dir():
        raise FileNotFoundError(f"data directory {path} does not exist")
    return path


def to_model_range(image_size: int, channels: int) -> transforms.Compose:
    """PIL image -> (C, S, S) float tensor in [-1, 1] (Sec. 4.1)."""
    return transforms.Compose([
        transforms.Resize((image_size, image_size), antialias=True),
        transforms.ToTensor(),  # [0, 1]
        transforms.Normalize([0.5] * channels, [0.5] * channels),  # [-1, 1]
    ])


def open_image(path: Path, mode: str) -> Image.Image:
    """Open an image as ``mode`` ("RGB" or "L"); a file PIL cannot decode is a CorruptImageError."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise CorruptImageError(f"cannot read image {path}: {error}") from error


def load_image(path: str | Path, image_size: int, channels: int) -> torch.Tensor:
    """One image file as a (C, S, S) tensor in [-1, 1]."""
    image = open_image(Path(path), "RGB" if channels == 3 else "L")
    return to_model_range(image_size, channels)(image)


def load_mask(path: str | Path, image_size: int) -> torch.Tensor:
    """A ground-truth mask as an (S, S) float tensor in {0, 1}, resized by nearest neighbour.

    A pixel is a defect when its grey value is above half the mask's largest value, so
    0/255 masks (MVTec AD) and 0/1 masks both work.
    """
    grey = transforms.functional.pil_to_tensor(transforms.functional.resize(
        open_image(Path(path), "L"), [image_size, image_size],
        interpolation=transforms.InterpolationMode.NEAREST))[0].float()  # (S, S)
    return (grey > grey.max() / 2).float()


class ImageFiles(Dataset):
    """A dataset of image files listed as ``items``: (image path, label, mask path or None).

    The one place that turns a listed file into an item: ``image`` (C, S, S) in [-1, 1],
    ``label`` (0 normal, 1 defective) and, when ``has_masks``, ``mask`` (S, S) in {0, 1}
    (all zero for an image without a mask). MVTecAD and Folder only build the list.
    """

    items: list[tuple[Path, int, Path | None]]
    image_size: int
    channels: int
    transform: Callable
    has_masks: bool = True

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[int]:
        return [label for _, label, _ in self.items]

    def __getitem__(self, index: int) -> dict:
        path, label, mask_path = self.items[index]
        item = {"image": self.transform(open_image(path, "RGB" if self.channels == 3 else "L")),
                "label": label}
        if self.has_masks:
            item["mask"] = (load_mask(mask_path, self.image_size) if mask_path is not None
                            else torch.zeros(self.image_size, self.image_size))
        return item
