"""Time the pixel metrics on MVTec AD bottle's test set: 83 masks at 256 x 256 (5.4 M pixels).

The maps are the masks plus uniform noise (the times depend on the pixel count, not on
the values: every metric sorts all pixels once). Each metric is timed 3 times; the
fastest run is reported, with the others.

Usage:  python benchmarks/metrics_speed.py [--image-size 256] [--out benchmarks/results/metrics_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from daad_lib.data import build_dataset
from daad_lib.data.cache import in_memory
from daad_lib.metrics import aupro, f1_max, pixel_auroc
from daad_lib.provenance import run_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="benchmarks/results/metrics_cpu.json")
    args = parser.parse_args()
    masks = in_memory(build_dataset("mvtec", "test", args.image_size, args.data_dir, "bottle")).masks.float()
    maps = masks * 0.3 + torch.rand(masks.shape, generator=torch.Generator().manual_seed(0))  # (83, S, S)
    report = {**run_info(), "dataset": "MVTec AD bottle, test split", "num_maps": len(masks),
              "image_size": args.image_size, "pixels": masks.numel(), "seconds": {}, "values": {}}
    for name, metric in (("pixel_aupro", aupro), ("pixel_auroc", pixel_auroc), ("pixel_f1_max", f1_max)):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            value = metric(maps, masks)
            times.append(time.perf_counter() - began)
        report["seconds"][name] = {"best": min(times), "all": times}
        report["values"][name] = value[0] if isinstance(value, tuple) else value
        print(f"{name}: {min(times):.2f} s (best of 3) on {len(masks)} maps of {args.image_size} px")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
