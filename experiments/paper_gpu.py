"""The paper's protocol on MVTec AD bottle, sized for one GPU: 256 px, 1000 epochs, batch 8,
AE, DAAD and DAAD+ (Sec. 4.1), each trained by the library's one run pipeline (``run.run``).

    python -m experiments.paper_gpu                        # on the GPU machine, all three models at once
    python -m experiments.paper_gpu --models ae --epochs 2 --image-size 32 --device cpu --out /tmp/p  # dry run

What makes it fit a GPU's short lease:

* the three models train **at the same time**, one process each (``--parallel``, the default on
  CUDA): at batch 8 one small model leaves most of an H200 idle;
* CUDA bfloat16 autocast (``precision="auto"``) and the decoded images **kept on the GPU**
  (:meth:`InMemory.to`), so no batch crosses the bus;
* a checkpoint every ``--checkpoint-every`` epochs (a 256 px DAAD+ checkpoint is ~100 MB) and
  ``--resume`` from it: a run cut off by the lease continues where its last checkpoint was;
* not yet tried, because they need a GPU to measure: ``torch.compile``, CUDA graphs, channels_last.

Each model's run folder holds the usual record (``train.json``, ``log.jsonl``); when all
models have finished, their test metrics go to ``--results`` with the provenance of every run
(command, commit, hardware, wall time). A finished model is never trained again.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from daad_lib.config import make_config
from daad_lib.data import default_data_dir
from daad_lib.device import select_device
from daad_lib.evaluate import evaluate
from daad_lib.models import Detector
from daad_lib.provenance import run_info
from daad_lib.published import DAAD_TABLE3_BOTTLE
from daad_lib.run import VALIDATION_RATIO, build_split, run
from daad_lib.train import TrainConfig

from .common import PROTOCOLS, ROOT

PAPER = PROTOCOLS["paper"]
MODELS = ("ae", "daad", "daad_plus")


def model_folder(out: Path, variant: str) -> Path:
    return out / f"bottle-{variant}"


def finished(out: Path, variant: str, epochs: int) -> bool:
    record = model_folder(out, variant) / "train.json"
    return record.is_file() and json.loads(record.read_text())["history"][-1]["epoch"] >= epochs


def train_one(variant: str, args) -> dict:
    """Train (or resume) one model of the protocol; returns its train.json."""
    folder = model_folder(args.out, variant)
    spec = {"name": "mvtec", "category": None, "image_size": args.image_size, "normal_class": 0,  # bottle
            "data_dir": str(Path(args.data_dir).resolve()), "validation_ratio": VALIDATION_RATIO}
    tc = TrainConfig(epochs=args.epochs, batch_size=PAPER.get("batch_size", 8), seed=args.seed,
                     precision="auto", checkpoint_every=args.checkpoint_every)
    config = make_config(variant, image_size=args.image_size)
    began = time.perf_counter()
    info = run(config, spec, tc, folder, resume=(folder / "checkpoint.pt").is_file(), device=args.device,
               progress=False)
    print(f"{variant}: {len(info['history'])} epochs in {time.perf_counter() - began:.0f} s this call", flush=True)
    return info


def evaluate_all(args) -> dict:
    """Test metrics of every finished model, with each run's record."""
    rows = {}
    for variant in args.models:
        folder = model_folder(args.out, variant)
        detector = Detector.load(folder / "checkpoint.pt")
        record = json.loads((folder / "train.json").read_text())
        test_set = build_split(record["dataset"], "test")
        metrics = evaluate(detector, test_set, device=args.device)
        rows[variant] = {**{k: metrics[k] for k in ("image_auroc", "pixel_auroc", "pixel_aupro", "image_f1_max")},
                         "epochs": record["history"][-1]["epoch"], "train_command": record["command"],
                         "train_commit": record["git_commit"], "hardware": record["hardware"],
                         "precision": record["history"][-1]["precision"],
                         "train_seconds": sum(epoch["seconds"] for epoch in record["history"])}
    return rows


def launch_parallel(args) -> int:
    """One process per model, all at once on the same device; waits for all of them."""
    processes = []
    for variant in args.models:
        if finished(args.out, variant, args.epochs):
            continue
        command = [sys.executable, "-m", "experiments.paper_gpu", "--models", variant, "--no-parallel",
                   "--train-only", *forwarded(args)]
        log = open(args.out / f"{variant}.log", "a")
        processes.append((variant, subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
    codes = {variant: process.wait() for variant, process in processes}
    for variant, code in codes.items():
        print(f"{variant}: exit {code} (log: {args.out / (variant + '.log')})")
    return max(codes.values(), default=0)


def forwarded(args) -> list[str]:
    return ["--epochs", str(args.epochs), "--image-size", str(args.image_size), "--seed", str(args.seed),
            "--device", args.device, "--out", str(args.out), "--data-dir", str(args.data_dir),
            "--checkpoint-every", str(args.checkpoint_every)]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=PAPER["epochs"])
    parser.add_argument("--image-size", type=int, default=PAPER["image_size"])
    parser.add_argument("--seed", type=int, default=PAPER["seeds"][0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="MVTec AD root or the bottle folder (default: $DAAD_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "paper_gpu")
    parser.add_argument("--results", type=Path, default=None,
                        help="results file (default results/paper/bottle_gpu.json for the full protocol)")
    parser.add_argument("--checkpoint-every", type=int, default=25)
    parser.add_argument("--parallel", dest="parallel", action="store_true", default=None,
                        help="one process per model at once (default on CUDA)")
    parser.add_argument("--no-parallel", dest="parallel", action="store_false")
    parser.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir or default_data_dir()
    if args.data_dir is None:
        parser.error("no data: pass --data-dir (the MVTec AD root or its bottle folder)")
    args.device = str(select_device(args.device))  # a missing GPU is an error here, not later
    if args.parallel is None:
        args.parallel = args.device.startswith("cuda") and len(args.models) > 1
    full = (args.epochs, args.image_size) == (PAPER["epochs"], PAPER["image_size"])
    args.results = args.results or (ROOT / "results" / "paper" / "bottle_gpu.json" if full
                                    else args.out / "results.json")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    if args.parallel:
        code = launch_parallel(args)
        if code:
            return code
    else:
        for variant in args.models:
            if not finished(args.out, variant, args.epochs):
                train_one(variant, args)
    if args.train_only:
        return 0
    report = {**run_info(), "protocol": "paper: MVTec AD bottle, 256 px, 1000 epochs, batch 8 (Sec. 4.1)",
              "image_size": args.image_size, "epochs": args.epochs, "seed": args.seed, "device": args.device,
              "parallel": args.parallel, "wall_time_s_this_call": time.perf_counter() - began,
              "paper_image_auroc": {variant: DAAD_TABLE3_BOTTLE[variant] for variant in args.models},  # Table 3
              "rows": evaluate_all(args)}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    for variant, row in report["rows"].items():
        print(f"{variant:10s} image AUROC {row['image_auroc']:.3f}  pixel AUROC {row['pixel_auroc']:.3f}  "
              f"({row['epochs']} epochs, {row['train_seconds']:.0f} s)")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
