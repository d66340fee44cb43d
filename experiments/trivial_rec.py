"""Reference reconstructions' L_rec: the class's mean image, and the best linear code of DCAE's size.

Two scales for the DCAE recipe's training losses (results/dcae/observations.md, H7 and H8):

- **mean image**: every training image rebuilt as its class's mean training image. A run whose
  final L_rec is a large fraction of this has not learned much beyond the class's average picture.
- **linear code**: every training image rebuilt from its first ``code_size`` principal components
  (scikit-learn's PCA fitted on the same images), the best any *linear* code of DCAE's size can do
  in squared error. H8's second reading counts a run of DCAE's network as trained if its final
  L_rec is at most this.

Reads the training images only (no test image, no model), under the recipe's preprocessing (Deep
SVDD's l1 GCN, 32 px), and uses the library's own L_rec (``daad_lib.losses.reconstruction_loss``).

    python -m experiments.trivial_rec --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import time

import torch
from sklearn.decomposition import PCA

from daad_lib.config import make_config
from daad_lib.data import build_dataset, resolve_data_dir
from daad_lib.data.cache import in_memory
from daad_lib.losses import reconstruction_loss

from .common import write_outputs

CASES = (("mnist", 5), ("cifar10", 4), ("cifar10", 6))  # MNIST class 5: the stalled runs; CIFAR-10: H5/H7/H8


def training_images(dataset: str, normal_class: int, data_dir: str | None) -> torch.Tensor:
    """The normal class's preprocessed training images, (n, C, 32, 32)."""
    cached = in_memory(build_dataset(dataset, "train", image_size=32, normal_class=normal_class,
                                     preprocessing="gcn-l1", data_dir=data_dir))
    return cached.batch(torch.arange(len(cached)))["image"]


def mean_image_rec(images: torch.Tensor) -> float:
    """L_rec of rebuilding every image as the mean image."""
    return float(reconstruction_loss(images, images.mean(0, keepdim=True).expand_as(images)))


def linear_code_rec(images: torch.Tensor, code_size: int) -> float:
    """L_rec of rebuilding every image from its first ``code_size`` principal components."""
    flat = images.flatten(1).double().numpy()  # (n, C * 32 * 32)
    pca = PCA(n_components=code_size, svd_solver="full").fit(flat)
    rebuilt = torch.from_numpy(pca.inverse_transform(pca.transform(flat))).view_as(images)  # (n, C, 32, 32)
    return float(reconstruction_loss(images.double(), rebuilt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    began = time.perf_counter()
    data_dir = str(resolve_data_dir(args.data_dir))
    rows = {}
    for name, normal_class in CASES:
        images = training_images(name, normal_class, data_dir)
        code_size = make_config("dcae", image_size=32, channels=images.shape[1]).code_size  # DCAE's code: 32 or 128
        rows[f"{name}-class{normal_class}"] = {"mean_image": mean_image_rec(images), "code_size": code_size,
                                               "linear_code": linear_code_rec(images, code_size)}
    lines = ["# Reference reconstructions' L_rec on the training images (gcn-l1, 32 px)", "",
             "mean image: every image rebuilt as the class's mean training image. linear code: every image rebuilt",
             "from its first `code_size` principal components (DCAE's code size), the best linear code of that size.", "",
             "| dataset, class | mean image | code_size | linear code |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['mean_image']:.4f} | {v['code_size']} | {v['linear_code']:.4f} |" for k, v in rows.items()]
    write_outputs("dcae", "trivial_rec", {"what": __doc__.splitlines()[0], "rows": rows,
                                          "wall_time_s": time.perf_counter() - began}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
