"""One inference path for Python and the CLI: images in; score, map and decision out.

:func:`predict` takes file paths, PIL images, numpy arrays or tensors, decodes them the way
training did (:func:`daad_lib.data.common.open_image`: EXIF orientation, 16-bit images, the
same resize and [-1, 1] transform), and returns for each image its score A(x) (Eq. 7, on the
training images' scale), R(x) and L(x), its anomaly map at the image's own height and width,
and its decision. ``daad score`` is a thin wrapper over it; :meth:`Detector.load` and
:meth:`Detector.predict` are the Python doors to it.

Arrays and tensors are images as torchvision's ``ToTensor`` gives them: ``(C, H, W)``
tensors (or ``(B, C, H, W)``) with values in [0, 1], or ``(H, W)`` / ``(H, W, C)`` numpy
arrays, uint8 in 0..255 or float in [0, 1].
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.functional import to_pil_image

from .data.common import fit_box, open_image, to_model_range, valid_region
from .models import Detector
from .scoring import fuse, score_batch


def as_pil(image, mode: str) -> Image.Image:
    """One image of any accepted kind as a PIL image of ``mode`` ("RGB" or "L")."""
    if isinstance(image, (str, Path)):
        return open_image(Path(image), mode)
    if isinstance(image, Image.Image):
        return image.convert(mode)
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"an image tensor must be (C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
        if image.is_floating_point() and (image.min() < 0 or image.max() > 1):
            raise ValueError("an image tensor must hold values in [0, 1] (as ToTensor gives), got "
                             f"[{float(image.min()):.3g}, {float(image.max()):.3g}]")
        return to_pil_image(image.detach().cpu()).convert(mode)
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"an image array must be (H, W) or (H, W, C), got shape {image.shape}")
        if image.dtype != np.uint8:
            if image.min() < 0 or image.max() > 1:
                raise ValueError(f"a {image.dtype} image array must hold values in [0, 1], got "
                                 f"[{image.min():.3g}, {image.max():.3g}]; uint8 arrays hold 0..255")
            image = (image * 255).round().astype(np.uint8)
        return Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[2] == 1 else image).convert(mode)
    raise TypeError(f"cannot read an image from a {type(image).__name__}: give a path, a PIL image, "
                    f"a numpy array or a tensor")


def as_list(images) -> list:
    """A single image, a (B, C, H, W) tensor or an iterable of images, as a list of images."""
    if isinstance(images, (str, Path, Image.Image, np.ndarray)):
        return [images]
    if isinstance(images, torch.Tensor):
        return list(images) if images.dim() == 4 else [images]
    return list(images)


def predict(detector: Detector, images, score_stats: dict | None = None, threshold: float | None = None,
            batch_size: int = 16, device: str | torch.device = "cpu") -> list[dict]:
    """Score ``images``; one dict per image:

    * ``score``: A(x) of Eq. 7 with R and L scaled by ``score_stats`` (the training images'
      min and max, stored by ``daad train``): about 0..1 for normal images; None without them;
    * ``recon``, ``align``: the raw R(x) and L(x) (``align`` None without a discriminator);
    * ``map``: the anomaly map, (H, W) at the input image's own size (bilinear from S x S);
    * ``anomalous``: ``score >= threshold`` (None without a threshold);
    * ``reconstruction``: x̂ at the model's size, (C, S, S) in [-1, 1].

    Every image is decoded before any is scored, so a bad one fails before work is done.

    >>> from daad_lib import build_model
    >>> detector = build_model("ae", image_size=32, channels=1).eval()
    >>> [row["map"].shape for row in predict(detector, [np.zeros((40, 24), np.uint8)])]
    [torch.Size([40, 24])]
    """
    config = detector.config
    fit = input_fit(detector)
    mode = "RGB" if config.channels == 3 else "L"
    pictures = [as_pil(image, mode) for image in as_list(images)]
    transform = to_model_range(config.image_size, config.channels, fit)
    detector.to(device).eval()
    gamma = config.gamma
    rows = []
    for start in range(0, len(pictures), batch_size):
        chunk = pictures[start:start + batch_size]
        x = torch.stack([transform(picture) for picture in chunk]).to(device)  # (b, C, S, S)
        boxes = [fit_box(*picture.size, config.image_size, fit) for picture in chunk]  # (left, top, w, h) each
        valid = (torch.stack([valid_region(box, config.image_size) for box in boxes]).to(device)
                 if fit != "stretch" else None)  # (b, S, S): the images' own pixels
        scores = score_batch(detector, x, valid=valid)
        fused = fuse(scores["recon"], scores["align"], gamma, score_stats) if score_stats else None
        for i, picture in enumerate(chunk):
            width, height = picture.size
            left, top, w, h = boxes[i]
            own = scores["map"][i][top:top + h, left:left + w]  # (h, w): the image's own pixels
            full_map = F.interpolate(own[None, None], size=(height, width), mode="bilinear",
                                     align_corners=False)[0, 0].cpu()  # (H, W)
            score = None if fused is None else float(fused[i])
            rows.append({"score": score, "recon": float(scores["recon"][i]),
                         "align": None if scores["align"] is None else float(scores["align"][i]),
                         "map": full_map, "reconstruction": scores["x_hat"][i].cpu(),
                         "anomalous": None if score is None or threshold is None else score >= threshold})
    return rows


def input_fit(detector: Detector) -> str:
    """How images reach this detector: its training data's ``fit`` (stretch or pad). A model trained
    on another preprocessing than the [-1, 1] range (Deep SVDD's ``gcn-l1``, whose scaling
    constants come from the training class) is refused: single images cannot be scored like it."""
    preprocessing = detector.data.get("preprocessing", "range")
    if preprocessing != "range":
        raise ValueError(f"this model was trained on {preprocessing!r}-preprocessed {detector.data.get('name')} "
                         f"images, which single images cannot reproduce: score it with `daad eval` (or "
                         f"daad_lib.evaluate on the library's dataset), or train with --preprocessing range")
    return detector.data.get("fit", "stretch")


def unique_names(paths: Iterable[str | Path]) -> list[str]:
    """A distinct, readable output name per input file: its stem, with as many parent folders
    as it takes to tell files with the same stem apart (``crack/000.png`` and ``scratch/000.png``
    become ``crack_000`` and ``scratch_000``).

    >>> unique_names(["a/crack/000.png", "b/scratch/000.png", "x/001.jpg"])
    ['crack_000', 'scratch_000', '001']
    """
    paths = [Path(path) for path in paths]
    depth = [0] * len(paths)

    def name(path: Path, k: int) -> str:
        return "_".join([*path.parent.parts[len(path.parent.parts) - k:], path.stem]) if k else path.stem

    for _ in range(max((len(path.parts) for path in paths), default=0)):
        names = [name(path, k) for path, k in zip(paths, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            return names
        depth = [k + (n in clashes) for n, k in zip(names, depth)]
    return [f"{index:04d}_{path.stem}" for index, path in enumerate(paths)]  # same paths given twice
