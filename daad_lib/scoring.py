"""Anomaly scores (Sec. 3.3, Eq. 7) and per-pixel anomaly maps.

* R(x): reconstruction score, the mean squared pixel difference between x and x̂.
* L(x): alignment score, the mean squared difference between the discriminator
  features f_D(x) and f_D(x̂) (only for models with a discriminator).
* A(x) = γ R(x) + (1 - γ) L(x), with R and L each min-max scaled to [0, 1] over
  the evaluated set (the paper's rule; γ = 0.9 for DAAD+, 1 otherwise), or over a
  fixed range, such as the training images' (``daad score`` scores single images).

The paper scores whole images only. MVTec AD has ground-truth masks, so we also
return a per-pixel map: the squared error averaged over channels, smoothed by a
Gaussian (σ = 4 px at 256 px, scaled with the image size).

Inputs padded to a square (``fit="pad"``, :func:`daad_lib.data.common.fit_box`) come with a
``valid`` (B, H, W) bool region of the image's own pixels: R(x) and the map-read image scores
then read those pixels only, so the padding's easy reconstruction does not dilute a tile's
error by an amount that depends on its shape.
"""
from __future__ import annotations

import math

import torch
from torchvision.transforms.functional import gaussian_blur

from .models import Detector


def reconstruction_score(x: torch.Tensor, x_hat: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """R(x): (B, C, H, W) pair -> (B,) mean squared error per image; with ``valid`` (B, H, W)
    bool, the mean over the valid pixels only (and all channels).

    >>> x, x_hat = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    >>> reconstruction_score(x, x_hat), reconstruction_score(x, x_hat, torch.tensor([[[True, True], [False, False]]]))
    (tensor([0.2500]), tensor([0.5000]))
    """
    error = (x - x_hat).pow(2)
    if valid is None:
        return error.flatten(1).mean(dim=1)
    inside = valid.to(error.dtype).flatten(1)  # (B, H*W)
    return (error.mean(dim=1).flatten(1) * inside).sum(dim=1) / inside.sum(dim=1)


def alignment_score(features_real: torch.Tensor, features_fake: torch.Tensor) -> torch.Tensor:
    """L(x): (B, F, h, w) discriminator features of x and x̂ -> (B,)."""
    return (features_real - features_fake).pow(2).flatten(1).mean(dim=1)


def anomaly_map(x: torch.Tensor, x_hat: torch.Tensor, sigma: float | None = None,
                valid: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel squared error (B, H, W), Gaussian-smoothed; sigma=0 disables smoothing.

    With ``valid`` (B, H, W) bool, the smoothing is a normalised convolution over the valid
    pixels only, blur(error · valid) / blur(valid), and the map is 0 outside them: the padding
    neither lowers a thin tile's map near its edges nor leaks its own error in.

    >>> x, x_hat = torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)
    >>> valid = torch.zeros(1, 8, 8, dtype=torch.bool); valid[:, 3:5] = True   # a 2-pixel-high tile
    >>> anomaly_map(x, x_hat, 1.0, valid)[0, 3:5].min().item(), anomaly_map(x, x_hat, 1.0, valid)[0, 0].max().item()
    (1.0, 0.0)
    """
    error = (x - x_hat).pow(2).mean(dim=1, keepdim=True)  # (B, 1, H, W)
    if sigma is None:
        sigma = 4.0 * x.shape[-1] / 256
    weight = None if valid is None else valid[:, None].to(error.dtype)  # (B, 1, H, W)
    if weight is not None:
        error = error * weight
    if sigma > 0:
        radius = max(1, math.ceil(3 * sigma))
        blur = lambda t: gaussian_blur(t, kernel_size=2 * radius + 1, sigma=sigma)
        error = blur(error) if weight is None else blur(error) / blur(weight).clamp(min=1e-12) * weight
    return error[:, 0]


IMAGE_SCORES = ("mean", "map_max", "map_top1pct")


def image_score(recon: torch.Tensor, maps: torch.Tensor, rule: str, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The image score a rule reads: (B,) from R(x) (B,) and the smoothed maps (B, H, W), over the
    ``valid`` (B, H, W) pixels only when given (padded inputs).

    * ``"mean"``: R(x) itself, the mean squared error over every pixel (the paper's score);
    * ``"map_max"``: the map's maximum, the score of most of the field's detectors (PaDiM,
      PatchCore, anomalib's models): a small defect is not diluted by the normal pixels;
    * ``"map_top1pct"``: the mean of the map's top 1 % of pixels, between the two.

    >>> maps = torch.zeros(2, 10, 10); maps[1, 0, 0] = 5.0
    >>> image_score(maps.mean(dim=(1, 2)), maps, "map_max"), image_score(None, maps, "map_top1pct")
    (tensor([0., 5.]), tensor([0., 5.]))
    """
    if rule not in IMAGE_SCORES:
        raise ValueError(f"image score must be one of {IMAGE_SCORES}, got {rule!r}")
    if rule == "mean":
        return recon
    flat = maps.flatten(1)  # (B, H*W)
    if valid is not None:
        flat = flat.masked_fill(~valid.flatten(1), float("-inf"))  # padding never scores
    if rule == "map_max":
        return flat.max(dim=1).values
    if valid is None:  # map_top1pct over every pixel
        k = max(1, round(0.01 * flat.shape[1]))
        return flat.topk(k, dim=1).values.mean(dim=1)
    k = (0.01 * valid.flatten(1).sum(dim=1)).round().clamp(min=1).long()  # (B,) 1 % of each image's own pixels
    top = flat.sort(dim=1, descending=True).values.nan_to_num(neginf=0.0).cumsum(dim=1)  # (B, H*W)
    return top.gather(1, (k - 1)[:, None])[:, 0] / k


def minmax(values: torch.Tensor, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Linearly map ``value_range`` = (low, high) to [0, 1]; without it, the set's own min and
    max (a constant set maps to 0). Values outside a given range land outside [0, 1]."""
    low, high = (values.min(), values.max()) if value_range is None else map(float, value_range)
    return (values - low) / (high - low) if high > low else torch.zeros_like(values)


def fuse(recon: torch.Tensor, align: torch.Tensor | None, gamma: float,
         ranges: dict | None = None) -> torch.Tensor:
    """A(x) = γ·minmax(R) + (1-γ)·minmax(L)  (Eq. 7). Without L, A = minmax(R).

    ``ranges`` = ``{"recon": (low, high), "align": (low, high)}`` scales R and L by fixed
    ranges (the checkpoint's ``score_stats``: the training images') instead of the set's own.

    >>> fuse(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 10.0]), gamma=0.5)
    tensor([0., 1.])
    >>> fuse(torch.tensor([3.0]), torch.tensor([5.0]), 0.5, {"recon": (1, 2), "align": (0, 10)})
    tensor([1.2500])
    """
    ranges = ranges or {}
    if align is None or gamma >= 1.0:
        return minmax(recon, ranges.get("recon"))
    return gamma * minmax(recon, ranges.get("recon")) + (1 - gamma) * minmax(align, ranges.get("align"))


def score_ranges(recon: torch.Tensor, align: torch.Tensor | None) -> dict:
    """``{"recon": [min, max], "align": [min, max]}`` of raw scores: the ``ranges`` of :func:`fuse`."""
    ranges = {"recon": [float(recon.min()), float(recon.max())]}
    if align is not None:
        ranges["align"] = [float(align.min()), float(align.max())]
    return ranges


@torch.no_grad()
def score_batch(detector: Detector, x: torch.Tensor, sigma: float | None = None,
                valid: torch.Tensor | None = None) -> dict:
    """Raw scores of one batch: ``recon`` (B,), ``align`` (B,) or None, ``map`` (B, H, W),
    and the reconstruction ``x_hat``. With ``valid`` (B, H, W) bool, R(x) reads those pixels
    only (L(x), of the discriminator's features, reads the whole input). The detector must be
    in eval mode."""
    detector.check_input(x)
    x_hat, _ = detector.generator(x)
    align = None
    if detector.discriminator is not None:
        _, f_real = detector.discriminator(x)
        _, f_fake = detector.discriminator(x_hat)
        align = alignment_score(f_real, f_fake)
    return {"recon": reconstruction_score(x, x_hat, valid), "align": align,
            "map": anomaly_map(x, x_hat, sigma, valid), "x_hat": x_hat}
