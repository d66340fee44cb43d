"""AUROC against epochs on MVTec AD bottle up to the paper's 1000 epochs: does DAAD pull ahead?

Trains each model once (seed 0, 128 px, batch 8, the protocol's precision) and evaluates it at
the milestones 25, 50, 100, 250, 500 and 1000 epochs. Training resumes from its checkpoint, so
stopping and restarting the command loses at most one epoch; each milestone's checkpoint is kept
(``runs/experiments/<protocol>/<run>/checkpoint_epochNNNN.pt``) and its evaluation stored in
``results/<protocol>/runs/curve-<run>-epNNNN.json`` as soon as it is reached.

    python -m experiments.curve [--models ae daad] [--until 1000] [--seeds 0 1 2]

Seed 0 is the committed 1000-epoch curve; seeds 1 and 2 (issue: "seeds on every headline claim")
run to at least 250 epochs, and the table adds, at every milestone all seeds reached, each
model's mean ± sd and the paired DAAD − AE over the seeds.

The kept checkpoints are what ``experiments.visuals`` shows (reconstructions, maps, ROC curves):
``python -m experiments.visuals --name bottle_ep1000 --checkpoint AE=<ae run>/checkpoint_epoch1000.pt ...``.
"""
from __future__ import annotations

import json
import time

from daad_lib.data import CHANNELS
from daad_lib.evaluate import metrics_from_scores, score_dataset
from daad_lib.models import Detector
from daad_lib.provenance import results_info
from daad_lib.published import DAAD_TABLE3_BOTTLE
from daad_lib.train import TrainConfig

from .common import (PROTOCOLS, checkpoint_folder, data_spec, fmt, mean_std, parse_args, protocol_config, results_dir,
                     run_name, save_figure, subplots, train_in, write_outputs)

PROTOCOL, SEED = "cpu2", 0  # SEED: the committed 1000-epoch curve; --seeds adds others
TABLE_SEEDS = (0, 1, 2)  # the table's spread: over these, at the milestones every one of them reached
IMAGE_SIZE = PROTOCOLS[PROTOCOL]["image_size"]  # 128 px
MILESTONES = (25, 50, 100, 250, 500, 1000)
PAPER_BOTTLE = {model: DAAD_TABLE3_BOTTLE[model] for model in ("ae", "daad")}  # 256 px, 1000 epochs
MODELS = {"ae": ("ae", {}), "daad": ("daad", {})}  # name -> (preset, overrides)


def milestone_file(name: str, epoch: int):
    return results_dir(PROTOCOL) / "runs" / f"curve-{name}-ep{epoch:04d}.json"


def evaluate_milestone(detector: Detector, test_set, history: list[dict], name: str, epoch: int,
                       seed: int = SEED) -> dict:
    """Score the test set with the model as trained for ``epoch`` epochs; store and return the result."""
    began = time.perf_counter()
    scores = score_dataset(detector.eval(), test_set)
    labels, recon = scores["labels"], scores["recon"]
    masks = scores["masks"]
    defect_pixels = masks.bool()
    squared_error = scores["maps"]  # smoothed per-pixel error (n, H, W)
    result = {
        **results_info(), "name": name, "protocol": PROTOCOL, "epoch": epoch, "seed": seed, "image_size": IMAGE_SIZE,
        "model_config": detector.config.to_dict(),
        "train_wall_time_s": sum(e["seconds"] for e in history[:epoch]),
        "train_loss_rec": history[epoch - 1]["rec"],
        **metrics_from_scores(scores, detector.config.gamma),  # image_auroc, pixel_auroc, AUPRO, F1-max, ...
        "mean_R_normal": float(recon[labels == 0].mean()), "mean_R_anomalous": float(recon[labels == 1].mean()),
        "mean_map_in_defects": float(squared_error[defect_pixels].mean()),
        "mean_map_outside_defects_anomalous": float(squared_error[(labels == 1)[:, None, None] & ~defect_pixels].mean()),
        "mean_map_normal_images": float(squared_error[labels == 0].mean()),
        "eval_wall_time_s": time.perf_counter() - began,
        "labels": labels.tolist(), "recon": recon.tolist()}
    path = milestone_file(name, epoch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{name} epoch {epoch}: image AUROC {result['image_auroc']:.3f}, pixel {result['pixel_auroc']:.3f}",
          flush=True)
    return result


def curve_name(model: str, seed: int = SEED) -> str:
    preset = MODELS[model][0]
    return run_name("mvtec", "bottle", preset, seed, "curve" if model == preset else f"curve-{model}")


def run_curves(models: list[str], until: int, data_dir: str | None, seeds: list[int]) -> None:
    """Train every model milestone by milestone through the library's run pipeline (resuming,
    models taking turns, so that all curves reach the same depth), evaluating each milestone once."""
    spec = data_spec("mvtec", IMAGE_SIZE, data_dir, "bottle")
    precision = PROTOCOLS[PROTOCOL]["precision"]
    for seed in seeds:
        for milestone in (m for m in MILESTONES if m <= until):
            for model in models:
                name = curve_name(model, seed)
                if milestone_file(name, milestone).exists():
                    continue
                preset, overrides = MODELS[model]
                config = protocol_config(PROTOCOL, preset, IMAGE_SIZE, CHANNELS["mvtec"], **overrides)
                tc = TrainConfig(epochs=milestone, seed=seed, precision=precision, keep_epochs=MILESTONES)
                trained = train_in(checkpoint_folder(PROTOCOL, name), config, spec, tc)
                evaluate_milestone(trained.detector, trained.test_set, trained.info["history"], name, milestone, seed)


def over_seeds(models: list[str], seeds: list[int]) -> list[dict]:
    """At each milestone every model reached with every seed: each model's image AUROC mean ± sd
    and the paired DAAD - AE difference (per seed, mean ± sd) over ``seeds``."""
    rows = []
    for milestone in MILESTONES:
        files = {(m, s): milestone_file(curve_name(m, s), milestone) for m in models for s in seeds}
        if not all(f.exists() for f in files.values()):
            continue
        aurocs = {key: json.loads(f.read_text())["image_auroc"] for key, f in files.items()}
        row = {"epoch": milestone, "seeds": list(seeds),
               **{m: mean_std([aurocs[m, s] for s in seeds]) for m in models}}
        if {"ae", "daad"} <= set(models):
            differences = [aurocs["daad", s] - aurocs["ae", s] for s in seeds]
            row["daad_minus_ae"] = {"per_seed": differences, **mean_std(differences)}
        rows.append(row)
    return rows


def tabulate(models: list[str], seeds: list[int]) -> None:
    rows = {}
    for model in models:
        name = curve_name(model)
        points = [json.loads(milestone_file(name, m).read_text()) for m in MILESTONES
                  if milestone_file(name, m).exists()]
        rows[model] = [{key: p[key] for key in ("epoch", "image_auroc", "pixel_auroc", "train_loss_rec",
                                                "train_wall_time_s", "mean_R_normal", "mean_R_anomalous",
                                                "git_commit")} for p in points]
    fig, axes = subplots(1, 3, figsize=(13, 3.6))
    for model, points in rows.items():
        epochs = [p["epoch"] for p in points]
        line, = axes[0].plot(epochs, [p["image_auroc"] for p in points], "o-", label=f"{model.upper()} (ours)")
        if model in PAPER_BOTTLE:
            axes[0].axhline(PAPER_BOTTLE[model], color=line.get_color(), ls="--", lw=1,
                            label=f"{model.upper()}, paper (256 px, 1000 ep.)")
        axes[1].plot(epochs, [p["pixel_auroc"] for p in points], "o-", color=line.get_color(), label=model.upper())
        axes[2].plot(epochs, [p["train_loss_rec"] for p in points], "o-", color=line.get_color(), label=model.upper())
    for ax, ylabel in zip(axes, ("image AUROC", "pixel AUROC", "training L_rec (MSE)")):
        ax.set_xscale("log")
        ax.minorticks_off()  # only the milestones are labelled
        ax.set_xticks(list(MILESTONES), [str(m) for m in MILESTONES])
        ax.set_xlabel("epochs")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[0].set_title("bottle, 128 px: image AUROC")
    axes[1].set_title("pixel AUROC (the paper has none)")
    axes[2].set_title("reconstruction loss on training images")
    save_figure(fig, results_dir(PROTOCOL) / "curve_bottle.png")
    precision = PROTOCOLS[PROTOCOL]["precision"]
    lines = [f"### AUROC against epochs on MVTec AD *bottle* (128 px, batch 8, seed {SEED}, {precision})", "",
             "| epochs | " + " | ".join(f"{m.upper()} image | {m.upper()} pixel" for m in rows) + " |",
             "|---" * (1 + 2 * len(rows)) + "|"]
    for milestone in MILESTONES:
        cells = []
        for points in rows.values():
            point = next((p for p in points if p["epoch"] == milestone), None)
            cells += ["–", "–"] if point is None else [f"{point['image_auroc']:.3f}", f"{point['pixel_auroc']:.3f}"]
        lines.append(f"| {milestone} | " + " | ".join(cells) + " |")
    lines.append("| paper, 1000 (256 px) | " + " | ".join(
        f"{PAPER_BOTTLE[m]:.3f} | –" if m in PAPER_BOTTLE else "– | –" for m in rows) + " |")
    spread = over_seeds(models, seeds) if len(seeds) > 1 else []
    if spread:
        lines += ["", f"#### Over seeds {seeds} (image AUROC, mean ± sd; the milestones every seed reached)", "",
                  "| epochs | " + " | ".join(m.upper() for m in models)
                  + (" | DAAD − AE per seed | DAAD − AE |" if "daad_minus_ae" in spread[0] else " |"),
                  "|---" * (1 + len(models) + (2 if "daad_minus_ae" in spread[0] else 0)) + "|"]
        for row in spread:
            cells = [fmt(row[m]) for m in models]
            if "daad_minus_ae" in row:
                d = row["daad_minus_ae"]
                cells += [", ".join(f"{x:+.3f}" for x in d["per_seed"]), f"{d['mean']:+.3f} ± {d['std']:.3f}"]
            lines.append(f"| {row['epoch']} | " + " | ".join(cells) + " |")
    write_outputs(PROTOCOL, "curve_bottle", {
        "what": "image and pixel AUROC against training epochs", "dataset": "MVTec AD bottle",
        "image_size": IMAGE_SIZE, "batch_size": 8, "seed": SEED, "precision": precision,
        "milestones": list(MILESTONES), "paper_bottle": PAPER_BOTTLE, "rows": rows,
        "seeds": list(seeds), "over_seeds": spread}, "\n".join(lines) + "\n")


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--models", nargs="+", default=["ae", "daad"]),
                                          p.add_argument("--until", type=int, default=MILESTONES[-1]),
                                          p.add_argument("--seeds", type=int, nargs="+", default=[SEED])))
    if not args.cached_only:
        run_curves(args.models, args.until, args.data_dir, args.seeds)
    tabulate(args.models, list(TABLE_SEEDS))  # the same table whichever seeds this call trained


if __name__ == "__main__":
    main()
