"""Textures, hypothesis T1: does the normal tiles' error follow their contrast? (no training)

    python -m experiments.relative_error [--data-dir ../shared/data]

The rule was written before this ran: ``results/texture/relative_error_rule.md``. For every
committed protocol-2 run of the AE and DAAD that stored its per-image R(x) (*bottle*'s curve at
100 epochs, magnetic tile's Table 3), the test set is rebuilt with the library's dataset in the
run's order (its labels must match the stored ones) and two things are computed per run:

* Spearman's ρ between R(x) and Var(x), the variance of the input's own pixel values, over the
  normal test images (a diagnostic: no anomaly label is used);
* the image AUROC of the relative error R(x) / Var(x) (= 1 − R², the share of the image's
  variance the reconstruction leaves unexplained) beside that of R(x).

Writes ``results/texture/relative_error.{json,md}``.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from daad_lib.data import MAGNETIC_TILE
from daad_lib.metrics import image_auroc
from daad_lib.provenance import results_info
from daad_lib.run import build_split

from .common import ROOT, data_spec, parse_args, subset_location

OUT = ROOT / "results" / "texture"
RUNS = ROOT / "results" / "cpu2" / "runs"
GROUPS = {  # (dataset, model) -> the run files' glob: the rule's groups
    ("bottle", "ae"): "curve-mvtec-bottle-ae-curve-seed*-ep0100.json",
    ("bottle", "daad"): "curve-mvtec-bottle-daad-curve-seed*-ep0100.json",
    (MAGNETIC_TILE, "ae"): f"mvtec-{MAGNETIC_TILE}-ae-seed*.json",
    (MAGNETIC_TILE, "daad"): f"mvtec-{MAGNETIC_TILE}-daad-cosine-seed?.json",
}
GAIN_TILE, LOSS_BOTTLE, RHO = 0.03, 0.01, 0.5  # the rule's thresholds


def input_variance(dataset) -> torch.Tensor:
    """Var(x) of every test image's pixel values (model range, all channels and pixels): (n,)."""
    return torch.stack([dataset[i]["image"].flatten().var(unbiased=False) for i in range(len(dataset))])


def rescore(run: dict, variance: torch.Tensor) -> dict:
    labels, recon = torch.tensor(run["labels"]), torch.tensor(run["recon"])
    normal = labels == 0
    rho = spearmanr(recon[normal].numpy(), variance[normal].numpy()).statistic
    return {"seed": run["seed"], "rho_normal": float(rho), "auroc_r": image_auroc(recon, labels),
            "auroc_relative": image_auroc(recon / variance, labels)}


def main() -> None:
    args = parse_args(__doc__)
    began = time.perf_counter()
    test_sets, rows = {}, {}
    for (dataset, model), pattern in GROUPS.items():
        runs = [json.loads(p.read_text()) for p in sorted(RUNS.glob(pattern))]
        runs = [r for r in runs if r.get("image_size") == 128 and "recon" in r]
        if dataset not in test_sets:
            where = subset_location(dataset, args.data_dir)
            test_set = build_split(data_spec("mvtec", 128, where["data_dir"], where["category"]), "test")
            test_sets[dataset] = (test_set, input_variance(test_set))
        test_set, variance = test_sets[dataset]
        for run in runs:
            if run["labels"] != [int(x) for x in test_set.labels]:
                raise SystemExit(f"{run['name']}: the rebuilt test set's labels differ from the stored ones")
        per_seed = [rescore(run, variance) for run in runs]
        mean = lambda key: statistics.mean(r[key] for r in per_seed)  # noqa: E731
        rows[f"{dataset}/{model}"] = {"runs": [r["name"] for r in runs], "per_seed": per_seed,
                                     "rho_normal": mean("rho_normal"), "auroc_r": mean("auroc_r"),
                                     "auroc_relative": mean("auroc_relative"),
                                     "gain": mean("auroc_relative") - mean("auroc_r")}
    tile_gains = [rows[f"{MAGNETIC_TILE}/{m}"]["gain"] for m in ("ae", "daad")]
    bottle_gains = [rows[f"bottle/{m}"]["gain"] for m in ("ae", "daad")]
    adopt = min(tile_gains) >= GAIN_TILE and min(bottle_gains) >= -LOSS_BOTTLE
    contrast = min(rows[f"{MAGNETIC_TILE}/{m}"]["rho_normal"] for m in ("ae", "daad")) >= RHO
    lines = ["# T1: R(x) against the input's own variance (protocol 2, 128 px; rule: relative_error_rule.md)", "",
             "| data | model | seeds | ρ(R, Var) on normal images | AUROC of R(x) | AUROC of R(x)/Var(x) | gain |",
             "|---|---|---|---|---|---|---|"]
    for key, row in rows.items():
        dataset, model = key.split("/")
        seeds = ", ".join(str(r["seed"]) for r in row["per_seed"])
        lines.append(f"| {dataset} | {model.upper()} | {seeds} | {row['rho_normal']:+.2f} | {row['auroc_r']:.3f} | "
                     f"{row['auroc_relative']:.3f} | {row['gain']:+.3f} |")
    lines += ["", "Means over the seeds. Readings by the rule:",
              f"1. Spearman's ρ ≥ {RHO} on magnetic tile for both models: **{'yes' if contrast else 'no'}** "
              f"({'the normal tiles' error follows their contrast' if contrast else 'not shown'}).",
              f"2. R(x)/Var(x) gains ≥ +{GAIN_TILE} on magnetic tile for both models and loses ≤ {LOSS_BOTTLE} on "
              f"bottle for either: **{'yes: a labelled scoring option' if adopt else 'no: a negative result, kept here'}**."]
    report = {**results_info(), "what": "T1: the relative error R(x)/Var(x) on the committed protocol-2 runs",
              "rule": "results/texture/relative_error_rule.md", "image_size": 128, "rows": rows,
              "reading_contrast": contrast, "reading_adopt": adopt, "wall_time_s": time.perf_counter() - began}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "relative_error.json").write_text(json.dumps(report, indent=1) + "\n")
    (OUT / "relative_error.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
