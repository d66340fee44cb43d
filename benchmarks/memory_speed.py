"""DAAD's training step against its AE's, with the memory read's fused backward and without.

Issue target: a DAAD epoch within 2x an AE epoch at 32 px, batch 8 (the paper's batch), and
within 1.5x at 128 px. An epoch is a fixed number of steps of one batch size, so the ratio of
step times is the ratio of epoch times. For each image size the script times one full
generator step (forward, backward, Adam) of

* the AE,
* DAAD with ``CosineRead`` (the memory's fused backward, the default), and
* DAAD with autograd's backward of the same read (``uses_fast_read`` switched off: the code
  before the change),

in interleaved rounds, so that load from other processes falls on all three alike, and reports
medians and the DAAD / AE ratios. The step's minor page faults are counted too: a fresh
(N, D) gradient per step costs the kernel a fault per 4 KiB page, which on this machine was as
slow as the arithmetic.

    python benchmarks/memory_speed.py [--sizes 32 128] [--rounds 5] [--steps 10] [--batch-sizes 8 200]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch

import daad_lib.memory as memory
from daad_lib import build_model
from daad_lib.provenance import run_info
from daad_lib.train import generator_step, make_optimizers

VARIANTS = ("ae", "daad_fused", "daad_autograd")
FAST_READ = memory.uses_fast_read  # the library's own rule, restored after every step


def make_step(variant: str, size: int, precision: str, batch: int = 8):
    """A closure running one generator step of ``variant`` on a fixed random batch of ``batch``."""
    torch.manual_seed(0)
    detector = build_model("ae" if variant == "ae" else "daad", image_size=size)
    optimizer, _ = make_optimizers(detector, (0.9, 0.999))
    x = torch.rand(batch, 3, size, size) * 2 - 1  # (B, C, S, S)
    fast = variant != "daad_autograd"

    def step():
        memory.uses_fast_read = FAST_READ if fast else (lambda module, features: False)
        generator_step(detector, x, optimizer, precision)
    for _ in range(3):  # warm-up: kernels chosen, buffers allocated
        step()
    return step, detector



def time_steps(step, steps: int) -> tuple[float, float]:
    """Median seconds per step over ``steps`` steps, and minor page faults per step."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return statistics.median(times), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def measure(size: int, precision: str, rounds: int, steps: int, batch: int = 8) -> dict:
    built = {variant: make_step(variant, size, precision, batch) for variant in VARIANTS}
    samples = {variant: [] for variant in VARIANTS}
    faults = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            seconds, page_faults = time_steps(built[variant][0], steps)
            samples[variant].append(seconds)
            faults[variant].append(page_faults)
    memory.uses_fast_read = FAST_READ
    median = {variant: statistics.median(values) for variant, values in samples.items()}
    detector = built["daad_fused"][1]
    return {"image_size": size, "batch": batch, "precision": precision,
            "rates": list(detector.config.rates),
            "memory_parameters": sum(p.numel() for n, p in detector.named_parameters() if n.endswith("items")),
            "step_s": median, "step_s_per_round": samples, "minor_faults_per_step": {
                variant: statistics.median(values) for variant, values in faults.items()},
            "ratio_daad_fused_to_ae": median["daad_fused"] / median["ae"],
            "ratio_daad_autograd_to_ae": median["daad_autograd"] / median["ae"],
            "speedup_fused_over_autograd": median["daad_autograd"] / median["daad_fused"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8],
                        help="8 is the paper's (and the issue's target); 200 is the DCAE recipe's")
    parser.add_argument("--out", default="benchmarks/results/memory_speed_cpu.json")
    args = parser.parse_args()
    began = time.perf_counter()
    results = [measure(size, args.precision, args.rounds, args.steps, batch)
               for size in args.sizes for batch in args.batch_sizes]
    report = {**run_info(), "what": "median generator-step time: AE, DAAD with the fused "
              "memory backward, DAAD with autograd's (the code before)", "torch_threads": torch.get_num_threads(),
              "rounds": args.rounds, "steps_per_round": args.steps,
              "wall_time_s": time.perf_counter() - began, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for row in results:
        print(f"{row['image_size']:4d} px batch {row['batch']} {row['precision']}: AE {row['step_s']['ae'] * 1e3:.1f} ms, "
              f"DAAD fused {row['step_s']['daad_fused'] * 1e3:.1f} ms ({row['ratio_daad_fused_to_ae']:.2f}x AE), "
              f"autograd {row['step_s']['daad_autograd'] * 1e3:.1f} ms ({row['ratio_daad_autograd_to_ae']:.2f}x AE)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
