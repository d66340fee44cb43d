"""Speed benchmark: training and inference throughput of AE, DAAD and DAAD+.

For each model and image size (batch 8) it measures, each in a fresh process so
that peak memory is per configuration:

* training-step images/s (a full step: G update, plus D update for DAAD+);
* inference images/s (reconstruction, plus discriminator features for DAAD+);
* the memory modules' share of the step time (the same network with every
  memory removed, timed alike);
* peak memory (CPU: the process's peak RSS above its state before the model was
  built; CUDA: torch.cuda.max_memory_allocated);
* FLOPs of a step (torch.utils.flop_counter) and the achieved GFLOP/s as a
  fraction of this machine's float32 matmul peak, measured in the same run.

Usage:  python benchmarks/speed.py [--sizes 64 128 256] [--out benchmarks/results/speed_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time
from pathlib import Path

import torch

from daad_lib.config import make_config, with_changes
from daad_lib.models import Detector
from daad_lib.provenance import run_info
from daad_lib.device import select_device
from daad_lib.train import TrainConfig, discriminator_step, generator_step, make_optimizers

MODELS = ("ae", "daad", "daad_plus")
BATCH = 8


def rates_for(size: int) -> tuple[int, int, int]:
    """The paper's (8, 8, 1) where the 16x bottleneck allows it, else the largest that fits."""
    return (8, 8, 1) if size >= 128 else (size // 16, size // 16, 1)


def timed(fn, device: torch.device, min_seconds: float, min_repeats: int = 3) -> float:
    """Mean seconds per call of fn after two warm-up calls."""
    for _ in range(2):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    repeats, began = 0, time.perf_counter()
    while repeats < min_repeats or time.perf_counter() - began < min_seconds:
        fn()
        repeats += 1
    sync()
    return (time.perf_counter() - began) / repeats


def matmul_peak_gflops(device: torch.device, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    seconds = timed(lambda: a @ b, device, min_seconds=2.0)
    return 2 * n ** 3 / seconds / 1e9


def step_fn(detector: Detector, x: torch.Tensor):
    opt_g, opt_d = make_optimizers(detector, TrainConfig().betas)

    def step():
        x_hat, _ = generator_step(detector, x, opt_g)
        if opt_d is not None:
            discriminator_step(detector, x, x_hat, opt_d)
    return step


def infer_fn(detector: Detector, x: torch.Tensor):
    @torch.no_grad()
    def infer():
        x_hat, _ = detector.generator(x)
        if detector.discriminator is not None:
            detector.discriminator(x)
            detector.discriminator(x_hat)
    return infer


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(variant: str, size: int, device_name: str, seconds: float) -> dict:
    """One (model, size) configuration; runs in its own process."""
    device = select_device(device_name)
    torch.manual_seed(0)
    config = make_config(variant, image_size=size,
                         **({"rates": rates_for(size)} if variant != "ae" else {}))
    baseline_rss = peak_rss_mb()
    detector = Detector(config).to(device).train()
    x = torch.rand(BATCH, 3, size, size, device=device) * 2 - 1
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step = step_fn(detector, x)
    step_seconds = timed(step, device, seconds)
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
               else peak_rss_mb() - baseline_rss)
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    step_flops = counter.get_total_flops()
    detector.eval()
    infer_seconds = timed(infer_fn(detector, x), device, seconds / 2)
    result = {"model": variant, "image_size": size, "batch": BATCH, "rates": config.rates,
              "train_images_per_s": BATCH / step_seconds, "train_step_s": step_seconds,
              "infer_images_per_s": BATCH / infer_seconds, "peak_memory_mb": peak_mb,
              "step_gflop": step_flops / 1e9, "step_gflops_per_s": step_flops / step_seconds / 1e9,
              "memory_share_of_step": None}
    if config.memory != "none":
        torch.manual_seed(0)
        bare = Detector(with_changes(config, memory="none")).to(device).train()
        bare_seconds = timed(step_fn(bare, x), device, seconds)
        result["step_s_without_memory"] = bare_seconds
        result["memory_share_of_step"] = max(0.0, 1 - bare_seconds / step_seconds)
    return result


def run_isolated(args: tuple) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=5.0, help="minimum timing per measurement")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/speed_<device>.json)")
    args = parser.parse_args()
    began = time.perf_counter()
    device = select_device(args.device)
    peak = matmul_peak_gflops(device)
    print(f"float32 matmul peak on {device}: {peak:.1f} GFLOP/s")
    rows = []
    for size in args.sizes:
        for variant in args.models:
            row = run_isolated((variant, size, args.device, args.seconds))
            row["fraction_of_matmul_peak"] = row["step_gflops_per_s"] / peak
            rows.append(row)
            share = row["memory_share_of_step"]
            print(f"{variant:10s} {size:4d}px  train {row['train_images_per_s']:7.1f} img/s  "
                  f"infer {row['infer_images_per_s']:7.1f} img/s  "
                  f"memory share {'-' if share is None else f'{share:.0%}':>4s}  "
                  f"peak {row['peak_memory_mb']:7.0f} MB  "
                  f"{row['step_gflops_per_s']:6.1f} GFLOP/s ({row['fraction_of_matmul_peak']:.0%} of peak)",
                  flush=True)
    out = Path(args.out or f"benchmarks/results/speed_{device.type}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {**run_info(), "device": str(device), "matmul_peak_gflops": peak,
              "wall_time_s": time.perf_counter() - began, "results": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
