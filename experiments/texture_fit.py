"""Textures, hypothesis T2: does keeping each tile's shape (pad, not stretch) lift the AE and DAAD on
magnetic tile? The rule was written before any run: ``results/texture/aspect_rule.md``.

    python -m experiments.texture_fit [--seeds 0 1 2] [--variants ae daad] [--cached-only]

Protocol 2 (128 px, 100 epochs, bf16, batch 8), as the committed stretched runs of Table 3 on
magnetic tile, with one change: ``fit="pad"`` (:func:`daad_lib.data.common.fit_box`), so R(x), the
maps and the pixel metrics read each tile's own pixels only. Runs go seed by seed, both models per
seed, so a partial table is paired. Each model is read by the rule:

* the primary number is the image AUROC of R(x) with the shape held fixed (10 quantile bins of
  |log aspect|, :func:`experiments.texture_types.within_shape_bins`), paired by seed with the same
  number of the stretched run;
* T2 lifts a model if the mean gain over three seeds is at least +0.03 and larger than the std of the
  per-seed gains; with fewer seeds there is no verdict.

Also reported, never used to decide: the plain image AUROC, the map-read scores and the pixel AUROC.
Writes ``results/texture/aspect_pad.{json,md}``.
"""
from __future__ import annotations

import json
import math
import statistics
import time

import torch

from daad_lib.data import MAGNETIC_TILE
from daad_lib.metrics import image_auroc
from daad_lib.provenance import results_info
from daad_lib.run import build_split

from .common import data_spec, mean_std, parse_args, run_once, subset_location
from .texture_types import OUT, RUNS, aspect_ratio, within_shape_bins

# the rule (results/texture/aspect_rule.md), fixed before the runs
LIFT = 0.03
VERDICT_SEEDS = 3
MODELS = {"ae": {"name": "AE", "pad_tag": "pad", "stretch_tag": ""},
          "daad": {"name": "DAAD", "pad_tag": "cosine-pad", "stretch_tag": "cosine"}}  # Table 3's DAAD runs


def stretched_run(variant: str, seed: int) -> dict | None:
    """The committed stretched protocol-2 run of this model and seed (Table 3 on magnetic tile)."""
    tag = MODELS[variant]["stretch_tag"]
    path = RUNS / f"mvtec-{MAGNETIC_TILE}-{variant}{'-' + tag if tag else ''}-seed{seed}.json"
    return json.loads(path.read_text()) if path.exists() else None


def reading(run: dict, labels: torch.Tensor, aspect: torch.Tensor) -> dict:
    """What the rule reads from one run's stored scores, and what it only reports."""
    if run["labels"] != [int(x) for x in labels]:
        raise SystemExit(f"{run['name']}: the rebuilt test set's labels differ from the stored ones")
    recon = torch.tensor(run["recon"])
    return {"seed": run["seed"], "shape_held_fixed": within_shape_bins(recon, labels, aspect),
            "image_auroc": image_auroc(recon, labels), "by_score": run.get("image_auroc_by_score"),
            "pixel_auroc": run.get("pixel_auroc"), "train_wall_time_s": run["train_wall_time_s"], "run": run["name"]}


def verdict(gains: list[float]) -> str:
    """The rule's verdict on the per-seed gains of the padded over the stretched runs."""
    if len(gains) < VERDICT_SEEDS:
        return f"no verdict: {len(gains)} of {VERDICT_SEEDS} seeds"
    mean, std = statistics.fmean(gains), statistics.stdev(gains)
    return "lifts" if mean >= LIFT and mean > std else "does not lift"


def main() -> None:
    args = parse_args(__doc__, lambda parser: (
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2]),
        parser.add_argument("--variants", nargs="+", default=list(MODELS), choices=list(MODELS))))
    began = time.perf_counter()
    where = subset_location(MAGNETIC_TILE, args.data_dir)
    test_set = build_split(data_spec("mvtec", 128, where["data_dir"], where["category"]), "test")
    labels = torch.tensor(test_set.labels)
    aspect = torch.tensor([abs(math.log(aspect_ratio(path))) for path, _, _ in test_set.items])  # 0: a square
    padded = {variant: [] for variant in args.variants}
    for seed in args.seeds:  # seed by seed, both models per seed
        for variant in args.variants:
            run = run_once("cpu2", variant, seed, tag=MODELS[variant]["pad_tag"], cached_only=args.cached_only,
                           recipe={"fit": "pad"}, **where)
            if run is not None:
                padded[variant].append(run)
    rows = {}
    for variant, runs in padded.items():
        pad = [reading(run, labels, aspect) for run in runs]
        stretch = {s: reading(r, labels, aspect) for s in args.seeds if (r := stretched_run(variant, s))}
        gains = [p["shape_held_fixed"] - stretch[p["seed"]]["shape_held_fixed"] for p in pad if p["seed"] in stretch]
        rows[variant] = {"pad": pad, "stretch": list(stretch.values()), "gain_per_seed": gains,
                         "gain": mean_std(gains), "verdict": verdict(gains)}
    report = {**results_info(), "what": "T2 on magnetic tile: padded (aspect-preserving) inputs against the stretched "
              "protocol-2 runs, read by results/texture/aspect_rule.md", "protocol": "cpu2", "image_size": 128,
              "epochs": 100, "precision": "bf16", "batch_size": 8, "seeds": args.seeds, "rule": {"lift": LIFT,
              "seeds": VERDICT_SEEDS}, "models": rows, "wall_time_s": time.perf_counter() - began}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "aspect_pad.json").write_text(json.dumps(report, indent=2) + "\n")
    (OUT / "aspect_pad.md").write_text(markdown(rows))
    print(markdown(rows))


def markdown(rows: dict) -> str:
    mean = lambda values: f"{statistics.fmean(values):.3f}" if values else "–"
    lines = ["# T2 on magnetic tile: padded inputs (keep each tile's shape) against stretched ones",
             "", "Protocol 2 (128 px, 100 epochs, bf16, batch 8). Rule: `aspect_rule.md` (written before the runs). "
             "Primary number: image AUROC of R(x) with the shape held fixed (10 quantile bins of |log aspect|); "
             f"T2 lifts a model if its mean gain over {VERDICT_SEEDS} seeds is at least +{LIFT} and larger than "
             "the std of the per-seed gains. Means over the seeds run.", "",
             "| model | seeds padded | shape held fixed: stretched | padded | gain per seed | verdict | "
             "plain AUROC: stretched | padded | map max: stretched | padded | pixel AUROC: stretched | padded |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for variant, row in rows.items():
        pad, stretch = row["pad"], {r["seed"]: r for r in row["stretch"]}
        paired = [stretch[p["seed"]] for p in pad if p["seed"] in stretch] or list(stretch.values())  # before any pad run: all

        def both(number) -> str:
            """Stretched | padded means of one reported number over the seeds where both runs have it."""
            seeds = [p["seed"] for p in pad if p["seed"] in stretch and None not in (number(p), number(stretch[p["seed"]]))]
            return (f"{mean([number(stretch[s]) for s in seeds])} | {mean([number(p) for p in pad if p['seed'] in seeds])}"
                    + (f" (seeds {seeds})" if len(seeds) < len(pad) else ""))
        lines.append(
            f"| {MODELS[variant]['name']} | {[p['seed'] for p in pad]} | {mean([r['shape_held_fixed'] for r in paired])} | "
            f"{mean([p['shape_held_fixed'] for p in pad])} | {', '.join(f'{g:+.3f}' for g in row['gain_per_seed']) or '–'} | "
            f"{row['verdict']} | {mean([r['image_auroc'] for r in paired])} | {mean([p['image_auroc'] for p in pad])} | "
            f"{both(lambda r: (r['by_score'] or {}).get('map_max'))} | {both(lambda r: r['pixel_auroc'])} |")
    lines += ["", "Stretched columns: the committed Table 3 runs of the same seeds (`results/cpu2/runs/`), read the "
              "same way; padded runs: `results/cpu2/runs/*-pad-seed*.json`.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
