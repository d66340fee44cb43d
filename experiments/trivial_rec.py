"""The trivial reconstruction's L_rec: every training image rebuilt as its class's mean training image.

A scale for the DCAE recipe's training losses (results/dcae/observations.md, H7): a run whose final
L_rec is a large fraction of this has not learned much beyond the class's average picture. Reads the
training images only (no test image, no model), under the recipe's preprocessing (Deep SVDD's l1 GCN,
32 px), and uses the library's own L_rec (``daad_lib.losses.reconstruction_loss``).

    python -m experiments.trivial_rec --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import time

import torch

from daad_lib.data import build_dataset, resolve_data_dir
from daad_lib.losses import reconstruction_loss

from .common import write_outputs

CASES = (("mnist", 5), ("cifar10", 4), ("cifar10", 6))  # MNIST class 5: the stalled runs; CIFAR-10: H5/H7


def trivial_rec(dataset: str, normal_class: int, data_dir: str | None) -> float:
    images = build_dataset(dataset, "train", image_size=32, normal_class=normal_class, preprocessing="gcn-l1",
                           data_dir=data_dir)
    stacked = torch.stack([images[i]["image"] for i in range(len(images))])  # (n, C, 32, 32)
    return float(reconstruction_loss(stacked, stacked.mean(0, keepdim=True).expand_as(stacked)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    data_dir = str(resolve_data_dir(args.data_dir))
    rows = {f"{name}-class{c}": trivial_rec(name, c, data_dir) for name, c in CASES}
    lines = ["# L_rec of rebuilding every training image as its class's mean training image (gcn-l1, 32 px)", "",
             "| dataset, class | trivial L_rec |", "|---|---|"] + [f"| {k} | {v:.4f} |" for k, v in rows.items()]
    write_outputs("dcae", "trivial_rec", {"what": __doc__.splitlines()[0], "rows": rows,
                                          "wall_time_s": time.perf_counter() - began}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
