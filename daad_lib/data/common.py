"""Pieces every dataset shares: the data root, image loading and the [-1, 1] transform."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
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
