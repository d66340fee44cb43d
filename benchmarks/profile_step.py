"""Where one DAAD training step spends its time, in fp32 and under bf16 autocast.

Explains the end-to-end speed-up of ``benchmarks/train_speed.py``: bf16 speeds up only the
matrix work (convolutions and the memories' matmuls, on AMX here); the rest of a step
(BatchNorm, activations, softmax, the 1/N rule, casts, the optimiser) gains little, so the
step can only gain what Amdahl's law allows. One step of DAAD on 3 x 128 x 128
images, batch 8 (the default model), profiled with torch.profiler; operators are grouped by kind
and reported as self CPU time per step.

    python benchmarks/profile_step.py [--image-size 128] [--steps 10] [--out benchmarks/results/profile_step_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from daad_lib import build_model
from daad_lib.provenance import run_info
from daad_lib.train import generator_step, make_optimizers

# operator name fragment -> group; the first match wins
GROUPS = [("matrix", ("conv", "mm", "matmul", "bmm", "linear", "mkldnn")),  # convolutions and matmuls
          ("batchnorm", ("batch_norm",)),
          ("casts", ("to_copy", "copy_", "::to", "contiguous", "clone")),   # bf16 <-> fp32 and copies
          ("optimiser", ("adam",)),                                          # fused Adam
          ("softmax_rule", ("softmax", "threshold", "where", "lt", "ge", "sum", "div", "norm")),  # addressing
          ("activations", ("relu", "leaky", "tanh")),
          ("other", ("",))]


def group_of(name: str) -> str:
    lowered = name.lower()
    return next(group for group, keys in GROUPS if any(key in lowered for key in keys))


def profile_steps(precision: str, image_size: int, steps: int) -> dict:
    torch.manual_seed(0)
    detector = build_model("daad", image_size=image_size)
    opt_g, _ = make_optimizers(detector, (0.9, 0.999))
    x = torch.rand(8, 3, image_size, image_size) * 2 - 1  # (B, C, S, S)
    for _ in range(3):  # warm-up: kernels chosen, memory allocated
        generator_step(detector, x, opt_g, precision)
    began = time.perf_counter()
    for _ in range(steps):
        generator_step(detector, x, opt_g, precision)
    seconds_per_step = (time.perf_counter() - began) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            generator_step(detector, x, opt_g, precision)
    groups: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        groups[group_of(event.key)] += event.self_cpu_time_total / 1e6 / steps
    return {"seconds_per_step": seconds_per_step, "profiled_seconds_per_step": sum(groups.values()),
            "non_matrix_seconds_per_step": sum(v for k, v in groups.items() if k != "matrix"),
            "groups_seconds_per_step": dict(sorted(groups.items(), key=lambda kv: -kv[1]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/profile_step_cpu.json")
    args = parser.parse_args()
    began = time.perf_counter()
    result = {precision: profile_steps(precision, args.image_size, args.steps) for precision in ("fp32", "bf16")}
    speedup = {group: result["fp32"]["groups_seconds_per_step"][group] / seconds
               for group, seconds in result["bf16"]["groups_seconds_per_step"].items()
               if seconds > 0 and group in result["fp32"]["groups_seconds_per_step"]}
    report = {**run_info(), "what": "one DAAD generator step, batch 8, self CPU time by operator group",
              "image_size": args.image_size, "batch_size": 8, "steps": args.steps, "wall_time_s": time.perf_counter() - began,
              "step_speedup_bf16": result["fp32"]["seconds_per_step"] / result["bf16"]["seconds_per_step"],
              "group_speedup_bf16": speedup, **result}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"step: fp32 {result['fp32']['seconds_per_step']:.3f} s, bf16 {result['bf16']['seconds_per_step']:.3f} s "
          f"({report['step_speedup_bf16']:.2f}x)")
    for group, seconds in result["fp32"]["groups_seconds_per_step"].items():
        bf16 = result["bf16"]["groups_seconds_per_step"].get(group, 0.0)
        print(f"  {group:28s} fp32 {seconds:.3f} s  bf16 {bf16:.3f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
