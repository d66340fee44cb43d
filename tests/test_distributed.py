"""Data-parallel training: rank shares, clear errors, and a real two-process torchrun run."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from daad_lib import distributed, losses
from daad_lib.checkpoint import load_checkpoint
from daad_lib.cli import main
from daad_lib.config import make_config
from daad_lib.data import Stripes
from daad_lib.data.cache import in_memory
from daad_lib.models import Detector
from daad_lib.train import (TrainConfig, apply_flips, check_run, draw_flips, epoch_batches, epoch_generator,
                            generator_losses, global_batches, make_optimizers, rank_share)

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "stripes", "--model", "daad_plus", "--image-size", "32", "--widths", "8", "16", "32",
        "--rates", "2", "2", "1", "--num-items", "20", "--device", "cpu", "--precision", "fp32", "--no-progress",
        "--validation-ratio", "0"]  # train on every image, as the one-process references do


def flipped_batches(dataset, rank: int, world_size: int) -> list[torch.Tensor]:
    """What one rank trains on in epoch 3: its share of every batch, flipped as in train()."""
    random = epoch_generator(seed=0, epoch=3)
    shares = []
    for batch, global_size in epoch_batches(dataset, 8, random, rank=rank, world_size=world_size):
        flips = rank_share(draw_flips(global_size, random), rank, world_size, dim=1)
        shares.append(apply_flips(batch["image"], flips))
    return shares


@pytest.mark.parametrize("cached", [True, False], ids=["in-memory", "dataloader"])
def test_rank_shares_are_disjoint_and_make_the_single_process_batch(cached):
    data = Stripes("train", 16, num_images=36, tile=4)  # 36 distinct images: 4 batches of 8, 4 dropped
    data = in_memory(data) if cached else data
    single = flipped_batches(data, 0, 1)
    rank0, rank1 = flipped_batches(data, 0, 2), flipped_batches(data, 1, 2)
    assert len(single) == len(rank0) == len(rank1) == 4
    for whole, first, second in zip(single, rank0, rank1):
        assert first.shape[0] == second.shape[0] == 4
        assert torch.equal(torch.cat([first, second]), whole)  # same images, same flips, same order
    seen = torch.cat(rank0 + rank1).flatten(1)
    assert len(torch.unique(seen, dim=0)) == 32  # no image twice in an epoch


def test_settings_that_cannot_run_fail_early():
    with pytest.raises(ValueError, match="global batch: it must split evenly over the 3 processes"):
        check_run(TrainConfig(batch_size=8), 100, 3, None, None)
    with pytest.raises(ValueError, match="2 training images cannot be shared by 4 processes"):
        check_run(TrainConfig(batch_size=8), 2, 4, None, None)
    with pytest.raises(ValueError, match="SyncBatchNorm needs CUDA"):
        distributed.use_sync_batchnorm(torch.nn.BatchNorm2d(2), torch.device("cpu"))
    assert distributed.world() == (0, 1) and distributed.world().main
    assert distributed.rank_device("cpu") == torch.device("cpu")


def test_distributed_flag_without_torchrun_says_how_to_launch(tmp_path, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert main(["train", *TINY, "--epochs", "1", "--distributed", "--out", str(tmp_path)]) == 2
    assert "torchrun --nproc_per_node N -m daad_lib.cli train" in capsys.readouterr().err


def two_ranks_in_one_process(epochs: int) -> Detector:
    """What 2 DDP ranks compute, done in one process: each half of every global batch goes
    through G and D on its own (BatchNorm sees 4 images), the two gradients are averaged."""
    torch.manual_seed(0)
    detector = Detector(make_config("daad_plus", image_size=32, channels=3, widths=(8, 16, 32),
                                    rates=(2, 2, 1), num_items=20)).train()
    data = in_memory(Stripes("train", 32))
    opt_g, opt_d = make_optimizers(detector, (0.9, 0.999))
    for epoch in range(epochs):
        random = epoch_generator(0, epoch)
        for indices in global_batches(len(data), 8, random):
            flips = draw_flips(len(indices), random)
            halves = [apply_flips(data.batch(rank_share(indices, r, 2))["image"], rank_share(flips, r, 2, dim=1))
                      for r in (0, 1)]
            opt_g.zero_grad(set_to_none=True)
            x_hats = []
            for x in halves:
                x_hat, logged = generator_losses(detector, x)
                (logged["total"] / 2).backward()
                x_hats.append(x_hat.detach())
            opt_g.step()
            opt_d.zero_grad(set_to_none=True)
            for x, x_hat in zip(halves, x_hats):
                real, _ = detector.discriminator(x)
                fake, _ = detector.discriminator(x_hat)
                (losses.discriminator_loss(real, fake) / 2).backward()
            opt_d.step()
    return detector


def test_torchrun_two_processes_match_one_process(tmp_path):
    """2 gloo processes on the CPU: 1 epoch, then --resume to 2, with the global batch of 8.

    Asserted: the ranks end with identical weights (parameters and BN buffers); one
    checkpoint, one log and one summary line are written; the weights equal, to float
    rounding (1e-6; measured: bit-identical with gloo on a CPU), those of one process that
    splits each batch in two halves as the ranks do; and the run matches a plain
    one-process run of the same global batch. That match is close, not exact: each rank's
    BatchNorm normalises over its 4 images instead of 8. Tolerance: per-epoch losses within
    2 % (measured < 0.5 %; a different seed differs by ~5 %).
    """
    (tmp_path / "ranks").mkdir()
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path / "ranks"), "train", *TINY, "--out", str(out)]
    began = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1",  # the worker imports daad_lib from this tree
                              "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    seconds = time.perf_counter() - began
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(f"torchrun, 2 processes, 1 + 1 epochs: {seconds:.1f} s")

    rank0 = torch.load(tmp_path / "ranks" / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "ranks" / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert sorted(path.name for path in out.iterdir()) == [".lock", "checkpoint.pt", "log.jsonl", "train.json"]
    assert run.stdout.count("trained daad_plus for") == 2  # rank 0 only, once per command
    ddp = load_checkpoint(out / "checkpoint.pt")
    assert ddp["epoch"] == 2 and len((out / "log.jsonl").read_text().splitlines()) == 2
    assert all(torch.equal(ddp["generator"][name], rank0[f"generator.{name}"]) for name in ddp["generator"])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine, one thread is faster than two
    try:
        assert main(["train", *TINY, "--epochs", "2", "--out", str(tmp_path / "single")]) == 0
        halves = two_ranks_in_one_process(epochs=2)
    finally:
        torch.set_num_threads(threads)
    single = load_checkpoint(tmp_path / "single" / "checkpoint.pt")
    for ours, theirs in zip(ddp["history"], single["history"]):
        for loss in ("rec", "total", "disc"):
            assert ours[loss] == pytest.approx(theirs[loss], rel=0.02), (ours, theirs)
    worst = max(float((rank0[name] - value.detach()).abs().max()) for name, value in halves.named_parameters())
    print(f"largest weight difference to the two-halves run: {worst:.2e}")
    for name, value in halves.named_parameters():
        torch.testing.assert_close(rank0[name], value.detach(), rtol=0, atol=1e-6)
