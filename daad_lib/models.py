"""A detector = generator (+ discriminator for the adversarial variants).

>>> detector = build_model("daad", image_size=64, rates=(4, 4, 1), num_items=50)
>>> x = torch.rand(2, 3, 64, 64) * 2 - 1
>>> x_hat, weights = detector.generator(x)
>>> x_hat.shape, sorted(weights)          # one memory per scale
(torch.Size([2, 3, 64, 64]), [0, 1, 2, 3])
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig, make_config
from .networks import DCAEGenerator, Discriminator, Generator


class Detector(nn.Module):
    """One model of the DAAD family, built from a :class:`ModelConfig`.

    Attributes:
        config: the configuration it was built from (kept in checkpoints).
        generator: :class:`Generator` (AE, MemAE, AE+Skip, MemAE+Skip or DAAD).
        discriminator: :class:`Discriminator` for DAAD+-style variants, else None.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.generator = (DCAEGenerator if config.network == "dcae" else Generator)(config)
        self.discriminator = Discriminator(config) if config.discriminator else None
        self.score_stats: dict | None = None  # training images' range of R(x), L(x) (daad train)
        self.decision: dict | None = None  # label-free threshold on A(x) and its rule (daad train)
        self.data: dict = {}  # the training data's spec, set by training and loading: its "fit" and "preprocessing" shape inputs

    @classmethod
    def load(cls, path, variant: str | None = None, sha256: str | None = None) -> "Detector":
        """The trained detector of a checkpoint (a safe, weights-only load), in eval mode, with
        the score range and decision threshold that ``daad train`` stored in it. ``path`` may be
        an https or file URL, downloaded once into a cache (:func:`daad_lib.pretrained.fetch`);
        with ``sha256`` the file must have that digest.

        >>> detector = Detector.load("runs/bottle/checkpoint.pt")            # doctest: +SKIP
        >>> detector.predict(["broken.png"])[0]["anomalous"]                  # doctest: +SKIP
        True
        """
        from .checkpoint import load_detector  # checkpoint.py builds Detectors
        from .pretrained import fetch

        detector, state = load_detector(fetch(path, sha256), variant)
        detector.score_stats, detector.decision = state.get("score_stats"), state.get("decision")
        return detector

    def predict(self, images, threshold: float | None = None, device: str = "cpu") -> list[dict]:
        """Score images (paths, PIL images, numpy arrays or tensors): per image its ``score``
        A(x), its ``map`` at the image's own height and width and whether it is ``anomalous``
        (``score >= threshold``; by default the stored label-free threshold). See
        :func:`daad_lib.predict.predict` for every field."""
        from .predict import predict  # predict.py uses this module

        if threshold is None and self.decision is not None:
            threshold = self.decision["threshold"]
        return predict(self, images, self.score_stats, threshold, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction x̂ of x (B, C, S, S)."""
        return self.generator(x)[0]

    def check_input(self, x: torch.Tensor) -> None:
        expected = (self.config.channels, self.config.image_size, self.config.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.config.variant} expects images of shape (B, C, H, W) = "
                             f"(B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")


def build_model(variant: str | ModelConfig = "daad", **overrides) -> Detector:
    """Build a preset by name (``"ae"``, ``"memae"``, ``"ae_skip"``, ``"memae_skip"``,
    ``"daad"``, ``"daad_plus"``, or the baseline ``"dcae"``) with optional config overrides, or
    from a config."""
    config = variant if isinstance(variant, ModelConfig) else make_config(variant, **overrides)
    return Detector(config)
