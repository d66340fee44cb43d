"""Training: a trained DAAD separates anomalies; resume is exact; divergence stops cleanly."""
from __future__ import annotations

import pytest
import torch

from daad_lib import build_model
from daad_lib.checkpoint import load_checkpoint
from daad_lib.data import Stripes
from daad_lib.evaluate import evaluate
from daad_lib.train import TrainConfig, TrainingDiverged, fit, random_flips, train

TINY = dict(image_size=32, widths=(8, 16, 32), num_items=20)


def test_daad_separates_vertical_from_diagonal_stripes():
    detector = fit("daad", Stripes("train", 32, num_images=32), TrainConfig(epochs=3, seed=0),
                   rates=(2, 2, 1), progress=False, **TINY)
    result = evaluate(detector, Stripes("test", 32, num_images=32))
    assert result["image_auroc"] > 0.9, result


def tiny_plus():
    torch.manual_seed(0)
    return build_model("daad_plus", rates=(2, 2, 1), **TINY)


def test_resume_gives_identical_weights(tmp_path):
    data = Stripes("train", 32, num_images=24)
    straight, resumed = tiny_plus(), tiny_plus()
    train(straight, data, TrainConfig(epochs=2), out_dir=tmp_path / "a", progress=False)
    train(resumed, data, TrainConfig(epochs=1), out_dir=tmp_path / "b", progress=False)
    again = tiny_plus()  # a fresh process would rebuild the model, then resume
    train(again, data, TrainConfig(epochs=2), out_dir=tmp_path / "b", resume=True, progress=False)
    for a, b in zip(straight.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    good = Stripes("train", 32, num_images=16)
    detector = tiny_plus()
    train(detector, good, TrainConfig(epochs=1), out_dir=tmp_path, progress=False)
    poisoned = Stripes("train", 32, num_images=16)
    poisoned.images[:] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"non-finite .* epoch 2, step 1.*kept at"):
        train(detector, poisoned, TrainConfig(epochs=2), out_dir=tmp_path, resume=True, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_wrong_channels_fail_before_training():
    detector = build_model("ae", image_size=32, channels=1, widths=(8, 16, 32))
    with pytest.raises(ValueError, match=r"expects images of shape .*\(B, 1, 32, 32\).*\(1, 3, 32, 32\)"):
        train(detector, Stripes("train", 32, num_images=8), TrainConfig(epochs=1), progress=False)


def test_random_flips_flip_whole_images():
    x = torch.arange(64 * 1 * 3 * 3, dtype=torch.float32).reshape(64, 1, 3, 3)
    flipped = random_flips(x, torch.Generator().manual_seed(0))
    candidates = [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]  # none, h, v, both
    chosen = []
    for i in range(64):  # every image is itself, whole, under exactly one of the four flips
        matches = [k for k, c in enumerate(candidates) if torch.equal(flipped[i], c[i])]
        assert len(matches) == 1, i
        chosen.append(matches[0])
    counts = torch.bincount(torch.tensor(chosen), minlength=4)
    assert (counts >= 8).all(), counts  # each with probability 1/4: all four happen
    again = random_flips(x, torch.Generator().manual_seed(0))
    assert torch.equal(flipped, again)  # drawn from the generator only


def test_device_selection(monkeypatch):
    from daad_lib.device import select_device

    assert select_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="has 2 CUDA GPU"):
        select_device("cuda:2")
    assert select_device("auto").type == "cuda"  # CUDA first
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("auto").type == "mps"  # then Apple's GPU
    with pytest.raises(ValueError, match="no CUDA GPU is available here"):
        select_device("cuda")  # asked for, not there: a clear error before any work
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        select_device("gpu0")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto").type == "cpu"  # then the CPU


def test_bf16_training_keeps_float32_weights_and_learns():
    data = Stripes("train", 32, num_images=16)
    torch.manual_seed(0)
    detector = build_model("daad", rates=(2, 2, 1), **TINY)
    history = train(detector, data, TrainConfig(epochs=3, precision="bf16"), progress=False)
    assert all(p.dtype == torch.float32 for p in detector.parameters())
    assert history[-1]["rec"] < history[0]["rec"]


def test_bad_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="fp16")


def test_milestone_checkpoints_and_epoch_log(tmp_path):
    import json

    detector = build_model("ae", image_size=32, widths=(8, 16, 32))
    train(detector, Stripes("train", 32, num_images=16), TrainConfig(epochs=3, keep_epochs=(1, 3)),
          out_dir=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("checkpoint*.pt")) == [
        "checkpoint.pt", "checkpoint_epoch0001.pt", "checkpoint_epoch0003.pt"]
    assert load_checkpoint(tmp_path / "checkpoint_epoch0001.pt")["epoch"] == 1
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert all(line["images_per_s"] > 0 and line["rec"] > 0 for line in lines)


def test_entropy_loss_is_trained_when_weighted():
    torch.manual_seed(0)
    detector = build_model("daad", rates=(2, 2, 1), addressing="dot-shrink", lambda_entropy=0.01, **TINY)
    history = train(detector, Stripes("train", 32, num_images=16), TrainConfig(epochs=1), progress=False)
    assert history[0]["entropy"] > 0
    assert history[0]["total"] > 50 * history[0]["rec"]


def test_eval_every_logs_test_metrics_each_n_epochs(tmp_path):
    import json

    torch.manual_seed(0)
    detector = build_model("daad", rates=(2, 2, 1), **TINY)
    history = train(detector, Stripes("train", 32, num_images=16), TrainConfig(epochs=3, eval_every=2),
                    out_dir=tmp_path, progress=False, eval_set=Stripes("test", 32, num_images=16))
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert ["eval" in line for line in lines] == [False, True, False]
    metrics = lines[1]["eval"]
    assert metrics == history[1]["eval"] and 0 <= metrics["image_auroc"] <= 1 and metrics["pixel_auroc"] is None
    assert {"image_f1_max", "image_aupr", "seconds"} <= set(metrics)
    assert detector.training  # evaluation leaves the model in training mode
    with pytest.raises(ValueError, match="eval_every needs eval_set"):
        train(detector, Stripes("train", 32, num_images=8), TrainConfig(epochs=1, eval_every=1), progress=False)


def test_tensorboard_is_optional(tmp_path, monkeypatch):
    import builtins

    from daad_lib.train import MissingExtra

    detector = build_model("ae", image_size=32, widths=(8, 16, 32))
    real_import = builtins.__import__

    def without_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tensorboard)
    with pytest.raises(MissingExtra, match=r"pip install 'daad-book\[tensorboard\]'"):
        train(detector, Stripes("train", 32, num_images=8), TrainConfig(epochs=1, tensorboard=True),
              out_dir=tmp_path, progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()  # refused before any work


def test_tensorboard_events_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    detector = build_model("ae", image_size=32, widths=(8, 16, 32))
    train(detector, Stripes("train", 32, num_images=16), TrainConfig(epochs=2, eval_every=1, tensorboard=True),
          out_dir=tmp_path, progress=False, eval_set=Stripes("test", 32, num_images=8))
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert {"train/rec", "train/images_per_s", "eval/image_auroc"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("train/rec")] == [1, 2]


def test_auto_precision_uses_bf16_only_where_it_is_native(monkeypatch):
    from daad_lib.device import resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    for avx512_bf16, amx, expected in ((False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        assert resolve_precision("auto", cpu) == expected, (avx512_bf16, amx)
    monkeypatch.undo()
    assert resolve_precision("auto", torch.device("meta")) == "fp32"  # unknown devices: fp32
    history = train(build_model("ae", image_size=32, widths=(8, 16, 32)), Stripes("train", 32, num_images=8),
                    TrainConfig(epochs=1), progress=False)
    assert history[0]["precision"] == resolve_precision("auto", cpu)  # recorded with each epoch


def test_lr_milestones_and_weight_decay_are_applied_and_part_of_the_recipe(tmp_path):
    from daad_lib.data import Stripes
    from daad_lib.models import build_model

    data = Stripes("train", image_size=32, num_images=8)
    detector = build_model("ae", image_size=32, widths=(8, 16))
    tc = TrainConfig(epochs=3, lr_milestones=(2,), weight_decay=1e-3, batch_size=4)
    train(detector, data, tc, out_dir=tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    decayed, kept = state["opt_g"]["param_groups"]  # conv/linear weights, then the rest
    assert decayed["lr"] == kept["lr"] == pytest.approx(1e-5)  # dropped at epoch 2
    assert (decayed["weight_decay"], kept["weight_decay"]) == (1e-3, 0.0)
    with pytest.raises(ValueError, match=r"weight_decay: 0.001 -> 0.0"):
        train(build_model("ae", image_size=32, widths=(8, 16)), data,
              TrainConfig(epochs=4, lr_milestones=(2,), batch_size=4), out_dir=tmp_path / "run", resume=True,
              progress=False)


def test_digits_train_without_flips_by_default_and_other_data_with_them(tmp_path):
    """results/dcae/flips.md: both flips turn a normal 6 into a 9-like digit, so one-class digits
    train without them unless asked; MVTec AD-like data (here stripes) keeps the paper's flips.
    The checkpoint records the flips the epochs actually had."""
    from torch.utils.data import Subset

    from daad_lib.data import default_flips, digits
    from daad_lib.data.cache import in_memory

    six = digits("train", 6, image_size=32)
    assert default_flips(six) is False and default_flips(Subset(six, [0, 1])) is False
    assert default_flips(in_memory(Subset(six, range(8)))) is False
    assert default_flips(Stripes("train", 32, num_images=8)) is True

    def weights_after(data, flips, name):
        torch.manual_seed(0)
        detector = build_model("ae", channels=data[0]["image"].shape[0], **{k: TINY[k] for k in ("image_size", "widths")})
        train(detector, data, TrainConfig(epochs=1, flips=flips), out_dir=tmp_path / name, progress=False)
        recorded = load_checkpoint(tmp_path / name / "checkpoint.pt")["train_config"]["flips"]
        return torch.cat([p.flatten() for p in detector.parameters()]), recorded

    few_sixes = Subset(six, range(16))
    default, recorded = weights_after(few_sixes, None, "default")
    unflipped, _ = weights_after(few_sixes, False, "off")
    flipped, _ = weights_after(few_sixes, True, "on")
    assert recorded is False
    assert torch.equal(default, unflipped) and not torch.equal(default, flipped)
    _, recorded_stripes = weights_after(Stripes("train", 32, num_images=16), None, "stripes")
    assert recorded_stripes is True


def test_weight_decay_shrinks_only_conv_and_linear_weights():
    """With a zero data gradient an Adam step moves only what the L2 penalty acts on: the conv
    weights shrink; biases, BatchNorm and the memory items stay put (decayed_parameters)."""
    from daad_lib.models import build_model
    from daad_lib.train import make_optimizers

    detector = build_model("daad", image_size=32, widths=(8, 16), num_items=10)
    opt_g, _ = make_optimizers(detector, (0.9, 0.999), weight_decay=0.1)
    before = {name: p.detach().clone() for name, p in detector.generator.named_parameters()}
    for p in detector.generator.parameters():
        p.grad = torch.zeros_like(p)
    opt_g.step()
    moved = {name for name, p in detector.generator.named_parameters() if not torch.equal(p, before[name])}
    convs = {f"{name}.weight" for name, m in detector.generator.named_modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))}
    assert moved == convs and any("items" in name for name in before)
    for name in convs:  # shrunk towards zero, sign kept
        p = dict(detector.generator.named_parameters())[name]
        assert p.abs().sum() < before[name].abs().sum()


def test_weight_decay_for_a_summed_loss_rescales_by_lambda_over_values():
    """Deep SVDD's penalty is weighed against the per-image sum of squared errors; ours against
    λ_rec times their mean, so its gradient must match after that rescaling."""
    from daad_lib.train import weight_decay_for_summed_loss

    torch.manual_seed(0)
    x, w = torch.rand(4, 1, 8, 8), torch.randn(3, requires_grad=True)  # the recipe's pixels in [0, 1]
    x_hat = x * w.sum()  # any function of w
    summed = ((x_hat - x) ** 2).sum(dim=(1, 2, 3)).mean() + 0.5 * 1e-3 * (w ** 2).sum()
    g_summed, = torch.autograd.grad(summed, w)
    decay = weight_decay_for_summed_loss(1e-3, lambda_rec=50.0, values_per_image=64, error_scale=2.0)
    ours = 50.0 * torch.nn.functional.mse_loss(2 * x * w.sum() - 1, 2 * x - 1)  # ours in [-1, 1]: errors x2
    g_ours = torch.autograd.grad(ours, w)[0] + decay * w.detach()  # Adam's coupled L2 term
    torch.testing.assert_close(g_ours * 64 / (50.0 * 4), g_summed)  # the same direction, up to Adam's scale
    with pytest.raises(ValueError, match="values_per_image"):
        weight_decay_for_summed_loss(1e-3, 50.0, 0)
