"""A measured peer: anomalib's GANomaly on our magnetic-tile split (issue: textures).

    # in a separate venv: pip install torch torchvision anomalib  (not a dependency of daad-book)
    python -m experiments.peer_ganomaly --data-dir ../shared/data/magnetic_tile --epochs 15 --seeds 0

DifferNet (Rudolph et al., WACV 2021) reports GANomaly on the magnetic-tile dataset; this script
measures it on *our* split instead, so that it can stand as a row of Table 3 on magnetic tile:

* data: the MVTec-layout folder the DAAD runs read (train/good only for training; the whole of
  test/, good and every defect type, for the AUROC), resized to ``--image-size`` (128 px, as our
  Table 3 runs), anomalib's default pre-processing (ImageNet normalisation);
* model: anomalib's ``Ganomaly`` with its defaults (batch 32, 64 features, latent 100, Adam 2e-4,
  beta1 0.5, loss weights 1/50/1); no validation split, no early stopping and no checkpoint
  chosen by a metric: the model after the last of ``--epochs`` epochs is scored;
* score: GANomaly's own, the squared distance between the two latent codes; the image AUROC is
  computed here with scikit-learn's ``roc_auc_score``, as for every DAAD run.

A run checkpoints every epoch under ``runs/peers/`` and resumes from there; its result is written
to ``results/peers/ganomaly_magnetic_tile_seed{S}.json`` with the provenance of every run file.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from daad_lib.data import MAGNETIC_TILE
from daad_lib.provenance import run_info

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / MAGNETIC_TILE,
                        help="an MVTec-layout category folder (train/good, test/<type>)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "peers")
    return parser.parse_args()


def datamodule(data_dir: Path, image_size: int):
    """Our split, as anomalib's Folder datamodule: train/good to train, all of test/ to test."""
    from anomalib.data import Folder

    defect_dirs = sorted(p.name for p in (data_dir / "test").iterdir() if p.is_dir() and p.name != "good")
    if not defect_dirs or not (data_dir / "train" / "good").is_dir():
        raise SystemExit(f"{data_dir} is not an MVTec-layout category (train/good, test/<defect>)")
    return Folder(name=data_dir.name, root=data_dir, normal_dir="train/good", normal_test_dir="test/good",
                  abnormal_dir=[f"test/{d}" for d in defect_dirs], train_batch_size=32, eval_batch_size=32,
                  num_workers=0, test_split_mode="from_dir", val_split_mode="none"), defect_dirs


@torch.no_grad()
def score_test_set(model, data) -> tuple[list[float], list[int]]:
    """GANomaly's score of every test image and its label (1 = defective), in the loader's order."""
    model.eval()
    scores, labels = [], []
    for batch in data.test_dataloader():
        images = model.pre_processor(batch.image)  # (B, 3, S, S), resized and normalised
        scores += model.model(images).pred_score.tolist()
        labels += batch.gt_label.int().tolist()
    return scores, labels


def one_seed(seed: int, args) -> dict:
    from anomalib.engine import Engine
    from anomalib.models import Ganomaly
    from lightning.pytorch import seed_everything
    from anomalib.callbacks.checkpoint import ModelCheckpoint  # anomalib then adds none of its own

    seed_everything(seed, workers=True)
    data, defect_dirs = datamodule(args.data_dir, args.image_size)
    model = Ganomaly(pre_processor=Ganomaly.configure_pre_processor((args.image_size, args.image_size)),
                     visualizer=False)
    folder = ROOT / "runs" / "peers" / f"ganomaly-{args.data_dir.name}-{args.image_size}px-seed{seed}"
    last = folder / "last.ckpt"
    resumed = last.exists()
    checkpoints = ModelCheckpoint(dirpath=folder, save_last=True, save_top_k=0, every_n_epochs=1)
    engine = Engine(max_epochs=args.epochs, callbacks=[checkpoints], logger=False,
                    default_root_dir=folder, limit_val_batches=0, num_sanity_val_steps=0)
    began = time.perf_counter()
    engine.fit(model=model, datamodule=data, ckpt_path=last if last.exists() else None)
    train_s = time.perf_counter() - began
    data.setup("test")
    scores, labels = score_test_set(model, data)
    return {**run_info(), "name": f"ganomaly-{args.data_dir.name}-seed{seed}", "model": "GANomaly (anomalib)",
            "anomalib_version": __import__("anomalib").__version__, "dataset": args.data_dir.name,
            "defect_types": defect_dirs, "seed": seed, "image_size": args.image_size, "epochs": args.epochs,
            "batch_size": 32, "precision": "fp32", "num_test_images": len(labels),
            "num_defective": sum(labels), "image_auroc": roc_auc_score(labels, scores),
            "train_time_s": train_s, "resumed": resumed}


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        result = one_seed(seed, args)
        path = args.out / f"ganomaly_{args.data_dir.name}_seed{seed}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{path}: image AUROC {result['image_auroc']:.3f} ({result['train_time_s']:.0f} s)")


if __name__ == "__main__":
    main()
