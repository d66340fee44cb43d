"""How many epochs do the 32 px one-class models need? Training loss until it plateaus.

Table 2's paper gives no epoch count (nor a batch size for these datasets). We train the AE and
DAAD (library defaults at 32 px) on one normal class of MNIST and of CIFAR-10 (class 0, seed 0)
for MAX_EPOCHS at batch BATCH and read the *training* reconstruction loss only (no test image is
scored). Rule, fixed before the runs: the plateau epoch of a run is the first epoch e >= WINDOW
at which the loss fell by less than TOLERANCE (relative) over the last WINDOW epochs; a dataset's
epoch count is the larger plateau epoch of its two models, rounded up to a multiple of 5, or
MAX_EPOCHS when a model has not plateaued by then.

A first pilot at batch 8 was stopped: the AE had not plateaued after 40 epochs, and DAAD ran at
165 images/s (36 s an MNIST epoch), which would have made Table 2 cost days on two cores. At
32 px with rates (1, 1, 1) DAAD's memories hold 7.2 M item parameters against 0.5 M in its
convolutions, and every step reads and updates all of them whatever the batch, so we train the
32 px models at batch 64 (``results/cpu2/runs/plateau-mnist-class0-ae-b8-seed0.json`` keeps the
stopped pilot's AE run).

    python -m experiments.plateau
"""
from __future__ import annotations

import json
import math
import time

from daad_lib.data import CHANNELS
from daad_lib.provenance import results_info
from daad_lib.train import TrainConfig

from .common import (checkpoint_folder, data_spec, oneclass_settings, parse_args, protocol_config, results_dir,
                     save_figure, subplots, train_in, write_outputs)

PROTOCOL, NORMAL_CLASS, SEED = "cpu2", 0, 0
IMAGE_SIZE, BATCH = oneclass_settings(PROTOCOL)["image_size"], oneclass_settings(PROTOCOL)["batch_size"]  # 32, 64
MAX_EPOCHS, WINDOW, TOLERANCE = 40, 5, 0.05
MODELS, DATASETS = ["ae", "daad"], ["mnist", "cifar10"]


def plateau_epoch(losses: list[float]) -> int | None:
    """First epoch e (1-based) >= WINDOW with loss[e] > (1 - TOLERANCE) * loss[e - WINDOW]."""
    for e in range(WINDOW + 1, len(losses) + 1):
        if losses[e - 1] > (1 - TOLERANCE) * losses[e - 1 - WINDOW]:
            return e
    return None


def pilot(dataset: str, model: str, data_dir) -> dict:
    name = f"plateau-{dataset}-class{NORMAL_CLASS}-{model}-b{BATCH}-seed{SEED}"
    stored = results_dir(PROTOCOL) / "runs" / f"{name}.json"
    if stored.exists():
        return json.loads(stored.read_text())
    config = protocol_config(PROTOCOL, model, IMAGE_SIZE, CHANNELS[dataset])
    spec = data_spec(dataset, IMAGE_SIZE, data_dir, normal_class=NORMAL_CLASS)
    tc = TrainConfig(epochs=MAX_EPOCHS, seed=SEED, precision="bf16", batch_size=BATCH)
    began = time.perf_counter()
    trained = train_in(checkpoint_folder(PROTOCOL, name), config, spec, tc)
    history = trained.info["history"]
    losses = [epoch["rec"] for epoch in history]
    result = {**results_info(), "name": name, "dataset": dataset, "normal_class": NORMAL_CLASS, "model": model,
              "seed": SEED, "image_size": IMAGE_SIZE, "epochs": MAX_EPOCHS, "batch_size": BATCH, "precision": "bf16",
              "model_config": config.to_dict(), "train_images": trained.info["num_train_images"],
              "train_wall_time_s": sum(e["seconds"] for e in history), "wall_time_s": time.perf_counter() - began,
              "train_loss_rec": losses, "plateau_epoch": plateau_epoch(losses)}
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{name}: plateau at epoch {result['plateau_epoch']} ({result['train_wall_time_s']:.0f} s)", flush=True)
    return result


def main() -> None:
    args = parse_args(__doc__)
    runs = {d: {m: pilot(d, m, args.data_dir) for m in MODELS} for d in DATASETS}
    epochs = {}
    for dataset, by_model in runs.items():
        found = [r["plateau_epoch"] for r in by_model.values()]
        epochs[dataset] = MAX_EPOCHS if None in found else 5 * math.ceil(max(found) / 5)
    fig, axes = subplots(1, len(DATASETS), figsize=(10, 3.4))
    for ax, (dataset, by_model) in zip(axes, runs.items()):
        for model, run in by_model.items():
            line, = ax.plot(range(1, MAX_EPOCHS + 1), run["train_loss_rec"], label=model.upper())
            if run["plateau_epoch"]:
                ax.axvline(run["plateau_epoch"], color=line.get_color(), ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training L_rec (MSE)")
        ax.set_title(f"{dataset}, normal class {NORMAL_CLASS}: chosen {epochs[dataset]} epochs")
        ax.legend(fontsize=8)
    save_figure(fig, results_dir(PROTOCOL) / "plateau.png")
    lines = [f"### Epochs for 32 px one-class training (class {NORMAL_CLASS}, seed {SEED}, batch {BATCH}, bf16)", "",
             f"Rule: the plateau epoch is the first epoch at which the training loss fell by less than "
             f"{TOLERANCE:.0%} over the last {WINDOW} epochs; the epoch count is the larger plateau epoch of "
             f"AE and DAAD, rounded up to a multiple of 5 ({MAX_EPOCHS} if a model has not plateaued by then). "
             "No test image is scored.", "",
             "A first pilot at batch 8 was stopped (AE: no plateau in 40 epochs; DAAD: 36 s an MNIST epoch); "
             "see the script's docstring.", "",
             "| dataset | AE plateau | DAAD plateau | chosen epochs | AE s/epoch | DAAD s/epoch |", "|---|---|---|---|---|---|"]
    for dataset, by_model in runs.items():
        per_epoch = {m: r["train_wall_time_s"] / MAX_EPOCHS for m, r in by_model.items()}
        lines.append(f"| {dataset} | {by_model['ae']['plateau_epoch']} | {by_model['daad']['plateau_epoch']} | "
                     f"{epochs[dataset]} | {per_epoch['ae']:.1f} | {per_epoch['daad']:.1f} |")
    write_outputs(PROTOCOL, "plateau", {
        "what": "training-loss plateau of 32 px one-class models", "image_size": IMAGE_SIZE,
        "normal_class": NORMAL_CLASS, "seed": SEED, "batch_size": BATCH, "max_epochs": MAX_EPOCHS, "window": WINDOW,
        "tolerance": TOLERANCE, "chosen_epochs": epochs, "runs": {d: {m: r["name"] for m, r in b.items()}
                                                                  for d, b in runs.items()}},
                  "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
