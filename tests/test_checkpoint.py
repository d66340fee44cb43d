"""The checkpoint format has one owner: build, save, update, load, refuse what is not ours."""
from __future__ import annotations

import argparse

import pytest
import torch

from daad_lib import build_model
from daad_lib.checkpoint import (CheckpointError, load_checkpoint, load_detector, save_checkpoint, training_state,
                                 update_checkpoint)
from daad_lib.train import make_optimizers


def test_training_state_round_trip_and_update(tmp_path):
    torch.manual_seed(0)
    detector = build_model("daad_plus", image_size=32, widths=(8, 16), rates=(2, 2, 1), num_items=10)
    opt_g, opt_d = make_optimizers(detector, (0.9, 0.999))
    state = training_state(detector, {"epochs": 3}, {"name": "stripes"}, [{"epoch": 3}], opt_g, opt_d)
    path = save_checkpoint(tmp_path / "c.pt", state)
    assert not (tmp_path / "c.pt.tmp").exists()
    update_checkpoint(path, score_stats={"recon": [0.1, 0.5]})
    loaded = load_checkpoint(path, "daad_plus")
    assert loaded["epoch"] == 3 and loaded["score_stats"] == {"recon": [0.1, 0.5]}
    assert loaded["format"] == "daad-book-checkpoint" and loaded["train_config"] == {"epochs": 3}
    restored, _ = load_detector(path)
    for name, value in detector.state_dict().items():
        assert torch.equal(restored.state_dict()[name], value)


def test_unsafe_file_gets_our_message_not_torchs_advice(tmp_path):
    torch.save({"format": "daad-book-checkpoint", "args": argparse.Namespace(lr=1.0)}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(tmp_path / "pickled.pt")
    message = str(refused.value)
    assert "is not a daad-book checkpoint" in message and "Do not load it with weights_only=False" in message
    assert "Re-running" not in message and "will likely succeed" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__  # no traceback of torch's
    (tmp_path / "garbage.pt").write_bytes(b"hello world garbage")
    with pytest.raises(CheckpointError, match=r"not a readable daad-book checkpoint \(torch.load failed"):
        load_checkpoint(tmp_path / "garbage.pt")


def test_pretrained_checkpoints_from_a_path_or_a_file_url_with_a_digest(tmp_path, monkeypatch):
    import hashlib

    import pytest

    from daad_lib.models import Detector, build_model
    from daad_lib.pretrained import fetch

    detector = build_model("ae", image_size=32, widths=(8, 16))
    path = save_checkpoint(tmp_path / "shared" / "ae.pt", {
        "model_config": detector.config.to_dict(), "epoch": 1, "history": [],
        "generator": detector.generator.state_dict(), "discriminator": None})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setenv("DAAD_CACHE", str(tmp_path / "cache"))
    assert Detector.load(path, sha256=digest).config == detector.config  # a local file
    url = path.as_uri()  # file:///.../ae.pt: downloaded like an https URL, into the cache
    loaded = Detector.load(url, sha256=digest)
    assert all(torch.equal(a, b) for a, b in zip(loaded.generator.state_dict().values(),
                                                 detector.generator.state_dict().values()))
    cached = fetch(url, digest)
    assert cached.parent == tmp_path / "cache" and cached.read_bytes() == path.read_bytes()
    with pytest.raises(CheckpointError, match="refused"):
        fetch(url, "0" * 64, cache=tmp_path / "other")
    assert not list((tmp_path / "other").glob("*"))  # nothing half-downloaded or unchecked is kept
    with pytest.raises(CheckpointError, match="could not download"):
        fetch((tmp_path / "missing.pt").as_uri(), cache=tmp_path / "other")
