"""Checkpoints: everything needed to resume training exactly or to evaluate later.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it
loads with ``torch.load(weights_only=True)`` (no arbitrary code runs on load).
It is written to a temporary file and renamed, so a crash never leaves half a file.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from .config import ModelConfig
from .models import Detector

FORMAT = "daad-book-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a daad-book checkpoint, or one of another model."""


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Atomically write ``state`` (plus format markers) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, variant: str | None = None) -> dict:
    """Load a checkpoint safely (weights only); with ``variant``, insist it holds that model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # garbage can fail anywhere inside the unpickler
        raise CheckpointError(f"{path} is not a readable daad-book checkpoint: {error}") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a daad-book checkpoint (no '{FORMAT}' marker)")
    held = state["model_config"]["variant"]
    if variant is not None and held != variant:
        raise CheckpointError(f"checkpoint {path} holds model {held!r}, not {variant!r}")
    return state


def restore_detector(state: dict, detector: Detector | None = None) -> Detector:
    """Build the checkpoint's model (or check ``detector`` matches it) and load its weights."""
    config = ModelConfig.from_dict(state["model_config"])
    if detector is None:
        detector = Detector(config)
    elif detector.config != config:
        raise CheckpointError(
            f"checkpoint holds model {config.variant!r} with config {config.to_dict()}, "
            f"which differs from the model being loaded into ({detector.config.to_dict()})")
    detector.generator.load_state_dict(state["generator"])
    if detector.discriminator is not None:
        detector.discriminator.load_state_dict(state["discriminator"])
    return detector


def load_detector(path: str | Path, variant: str | None = None) -> tuple[Detector, dict]:
    """The trained detector stored at ``path`` (in eval mode) and the whole checkpoint."""
    state = load_checkpoint(path, variant)
    detector = restore_detector(state)
    return detector.eval(), state
