"""Decode a dataset once and keep it in memory as tensors.

Reading a PNG, resizing it and converting it to a tensor costs as much per epoch
as a good part of a training step on a CPU. :func:`in_memory` does that work once:
every item is decoded a single time and stored in one tensor, and training and
scoring then slice batches out of it.

Images decoded from 8-bit files are stored as uint8 (4x smaller than float32) and
converted back exactly: our transform maps a byte v to 2v/255 - 1, so
``round((x + 1) * 127.5)`` recovers v. Datasets with other values (generated
stripes, interpolated digits) are kept as float32.

>>> from daad_lib.data import Stripes
>>> cached = in_memory(Stripes("train", image_size=32, num_images=8))
>>> batch = cached.batch(torch.tensor([0, 3]))
>>> batch["image"].shape, batch["label"].tolist()
(torch.Size([2, 3, 32, 32]), [0, 0])
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm


def to_bytes_if_exact(images: torch.Tensor) -> torch.Tensor:
    """(n, C, S, S) in [-1, 1] -> uint8 when that loses nothing, else the float tensor."""
    as_bytes = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    if torch.allclose(from_bytes(as_bytes), images, rtol=0, atol=1e-6):
        return as_bytes
    return images.float()


def from_bytes(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_bytes_if_exact`: float32 in [-1, 1]."""
    if images.dtype != torch.uint8:
        return images
    return images.float() / 127.5 - 1.0


class InMemory(Dataset):
    """Every item of a dataset, decoded once: ``images`` (n, C, S, S), ``labels`` (n,),
    ``masks`` (n, S, S) bool or None, ``valid`` (n, S, S) bool or None (the images' own pixels
    of padded inputs). Items and batches look like the wrapped dataset's."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None,
                 source: Dataset | None = None, valid: torch.Tensor | None = None):
        self.images, self.labels, self.masks, self.source, self.valid = images, labels, masks, source, valid

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> "InMemory":
        """The same items with their tensors on ``device`` (a GPU: batches then never cross the bus)."""
        masks = self.masks.to(device) if self.masks is not None else None
        valid = self.valid.to(device) if self.valid is not None else None
        return InMemory(self.images.to(device), self.labels.to(device), masks, self.source, valid)

    def batch(self, indices: torch.Tensor) -> dict:
        """The items at ``indices`` as one batch: ``image`` (b, C, S, S) float in [-1, 1], ..."""
        batch = {"image": from_bytes(self.images[indices]), "label": self.labels[indices]}
        if self.masks is not None:
            batch["mask"] = self.masks[indices].float()
        if self.valid is not None:
            batch["valid"] = self.valid[indices]
        return batch

    def __getitem__(self, index: int) -> dict:
        item = self.batch(torch.tensor([index]))
        return {name: value[0] for name, value in item.items()} | {"label": int(self.labels[index])}


def in_memory(dataset: Dataset, progress: bool = False) -> InMemory:
    """Decode every item of ``dataset`` once (a no-op for an :class:`InMemory`)."""
    if isinstance(dataset, InMemory):
        return dataset
    images, labels, masks, valid = [], [], [], []
    for index in tqdm(range(len(dataset)), desc="decode", disable=not progress, leave=False):
        item = dataset[index]
        images.append(item["image"])
        labels.append(int(item["label"]))
        if "mask" in item:
            masks.append(item["mask"] > 0.5)
        if "valid" in item:
            valid.append(item["valid"])
    if not images:
        raise ValueError("the dataset holds no images")
    return InMemory(to_bytes_if_exact(torch.stack(images)),  # (n, C, S, S)
                    torch.tensor(labels),  # (n,)
                    torch.stack(masks) if masks else None,  # (n, S, S) bool
                    source=dataset, valid=torch.stack(valid) if valid else None)  # (n, S, S) bool
