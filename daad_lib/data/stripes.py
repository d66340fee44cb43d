"""The toy example of Fig. 1: diagonal stripes are normal, vertical stripes anomalous.

Stripes alternate white and dark blue, ``stripe_width`` pixels each, with a random
phase per image. Learning block patterns from diagonal stripes, a memory of tiny
blocks (one pixel: just "white" and "blue") reconstructs vertical stripes too; a
memory of whole-image blocks reconstructs neither; medium blocks reconstruct the
normal stripes and fail on the vertical ones.
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

WHITE = torch.tensor([1.0, 1.0, 1.0])
DARK_BLUE = torch.tensor([0.05, 0.15, 0.45])


def stripes(size: int, kind: str, phase: int | torch.Tensor, stripe_width: int = 4) -> torch.Tensor:
    """One (3, size, size) image in [-1, 1]; kind is "diagonal" (normal) or "vertical".

    ``phase`` shifts the stripes: one int for the whole image, or a (size, size)
    tensor of per-pixel shifts (see ``tile`` in :class:`Stripes`).
    """
    rows = torch.arange(size)[:, None]
    cols = torch.arange(size)[None, :]
    if kind == "diagonal":
        position = rows + cols
    elif kind == "vertical":
        position = cols.expand(size, size)
    else:
        raise ValueError(f"kind must be 'diagonal' or 'vertical', got {kind!r}")
    white = ((position + phase) // stripe_width) % 2 == 0  # (S, S) bool
    image = torch.where(white[None], WHITE[:, None, None], DARK_BLUE[:, None, None])  # (3, S, S)
    return image * 2 - 1


class Stripes(Dataset):
    """Generated stripes. ``train``: diagonal only; ``test``: half diagonal, half vertical.

    With ``tile``, every tile x tile square gets its own random phase, so whole
    images vary combinatorially while small blocks repeat a few patterns: the
    setting in which large memory blocks fail on normal images too (Fig. 1).

    >>> item = Stripes("test", image_size=32)[0]
    >>> item["image"].shape, item["label"]
    (torch.Size([3, 32, 32]), 0)
    """

    def __init__(self, split: str = "train", image_size: int = 32, num_images: int = 64,
                 stripe_width: int = 4, seed: int = 0, tile: int | None = None):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if tile is not None and image_size % tile:
            raise ValueError(f"tile {tile} does not divide image size {image_size}")
        generator = torch.Generator().manual_seed(seed + (0 if split == "train" else 1))
        grid = image_size // (tile or image_size)
        phases = torch.randint(0, 2 * stripe_width, (num_images, grid, grid), generator=generator)
        phases = phases.repeat_interleave(image_size // grid, 1).repeat_interleave(image_size // grid, 2)
        self.labels = [0] * num_images if split == "train" else [i % 2 for i in range(num_images)]
        kinds = ["vertical" if label else "diagonal" for label in self.labels]
        self.images = torch.stack([stripes(image_size, kind, phase, stripe_width)
                                   for kind, phase in zip(kinds, phases)])  # (n, 3, S, S)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "label": self.labels[index]}
