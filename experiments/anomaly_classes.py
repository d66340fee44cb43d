"""Which anomalies does a detector miss? Table 2's one-class AUROC split by anomalous class.

In the one-class protocol the nine other classes are all "anomalous", and Table 2 reports one
AUROC over all of them. This splits it: for normal class k and every other class j, the AUROC
of the reconstruction score R(x) between the normal test images (class k) and the test images
of class j alone. A pair below 0.5 means the model rebuilds class j *better* than its own
normal class, which no memory over normal features can fix if the AE and DAAD share it.

It reads the trained checkpoints of CPU protocol 2's Table 2 runs (AE and DAAD with the
default addressing rule); nothing is trained. One file per run is cached beside its run file.
On MVTec-layout data the anomalous classes are the defect types (``test/<type>/``); their split
needs no model at all, only the scores stored in the protocol-2 run files, and it ranks by each
model's detection score A(x) (Eq. 7), the score its Table 3 AUROC was computed from.

    python -m experiments.anomaly_classes [--datasets mnist cifar10] [--subsets bottle magnetic_tile]
"""
from __future__ import annotations

import json
import statistics
import time

import torch
from sklearn.metrics import roc_auc_score

from daad_lib.checkpoint import load_detector
from daad_lib.data import build_dataset
from daad_lib.data.mvtec import list_split
from daad_lib.evaluate import score_dataset
from daad_lib.provenance import results_info
from daad_lib.scoring import fuse

from .common import (MAGNETIC_TILE, PROTOCOLS, checkpoint_folder, mvtec_folder, oneclass_settings, parse_args,
                     results_dir, run_name, save_figure, subplots, write_outputs)
from .table2 import CLASSES
from .table3 import NAMES

PROTOCOL = "cpu2"
ONECLASS = oneclass_settings(PROTOCOL)  # Table 2's one-class settings at this protocol
VARIANTS = ("ae", "daad")  # Table 2's models split here (the default addressing rule's runs)
MVTEC_VARIANTS = ("ae", "memae", "ae_skip", "daad", "daad_plus")  # Table 3's models with stored scores
# the addressing study's other rules, where it trained them on MNIST (experiments.addressing --classes)
OTHER_RULES = ("cosine-t0.1", "dot-shrink")
PROBE = (  # written before the rules were trained on MNIST
    "Classes and question fixed before these runs: normal classes 8, 2 and 5, the three whose AE pair AUROC "
    "against the 1s is lowest; both sharper rules, 40 epochs, seed 0. The memory's claim is supported here "
    "only if a sharper rule lifts the pair AUROC against the 1s above the default rule's on all three classes. "
    "A diagnostic: the default rule is fixed by the addressing study and does not change with these runs.")


def default_tag(variant: str) -> str:
    """The run tag of a variant at this protocol (block-memory models: the addressing study's default rule)."""
    return PROTOCOLS[PROTOCOL].get("daad_tag", {}).get(variant, "")


def stored_image_auroc(name: str) -> float:
    return json.loads((results_dir(PROTOCOL) / "runs" / f"{name}.json").read_text())["image_auroc"]


def pair_aurocs(score: torch.Tensor, classes: torch.Tensor, normal: int) -> dict[int, float]:
    """AUROC of a score (R(x) or A(x)), normal class against each other class alone. score, classes: (n,)."""
    normal_scores = score[classes == normal]
    out = {}
    for other in sorted(set(classes.tolist()) - {normal}):
        other_scores = score[classes == other]
        labels = [0] * len(normal_scores) + [1] * len(other_scores)
        out[other] = float(roc_auc_score(labels, torch.cat([normal_scores, other_scores]).numpy()))
    return out


def by_class(dataset: str, normal: int, variant: str, data_dir, tag: str | None = None) -> dict | None:
    """Per-anomalous-class AUROCs of one trained run (None when the run has not finished)."""
    name = run_name(dataset, f"class{normal}", variant, 0, default_tag(variant) if tag is None else tag)
    path = results_dir(PROTOCOL) / "runs" / f"{name}-by_class.json"
    if path.exists():
        return json.loads(path.read_text())
    if not (results_dir(PROTOCOL) / "runs" / f"{name}.json").exists():
        return None  # not finished: a checkpoint alone may be mid-training
    began = time.perf_counter()
    detector, _ = load_detector(checkpoint_folder(PROTOCOL, name) / "checkpoint.pt")
    test_set = build_dataset(dataset, "test", ONECLASS["image_size"], data_dir, normal_class=normal)
    classes = torch.as_tensor(test_set.base.targets)[test_set.indices]  # (n,) class of each test image
    recon = score_dataset(detector, test_set, batch_size=256, sigma=0)["recon"]  # (n,)
    result = {**results_info(), "name": name, "dataset": dataset, "normal_class": normal, "variant": variant,
              "score": "R(x), the reconstruction score",
              "auroc_by_class": {str(k): v for k, v in pair_aurocs(recon, classes, normal).items()},
              "median_score_by_class": {str(k): float(recon[classes == k].median()) for k in classes.unique().tolist()},
              "wall_time_s": time.perf_counter() - began}
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def shift(normal: torch.Tensor, defective: torch.Tensor) -> dict:
    """How far a defect moves R(x), in standard deviations of R(x) over the normal test images."""
    spread = float(normal.std())
    return {"normal_mean": float(normal.mean()), "normal_std": spread, "defective_mean": float(defective.mean()),
            "in_normal_stds": (float(defective.mean()) - float(normal.mean())) / spread}


def detection_score(run: dict) -> torch.Tensor:
    """A(x) of a stored run's test images, as its image AUROC was computed (the library's
    :func:`~daad_lib.scoring.fuse`, min-max over the whole test set). (n,) float64."""
    align = torch.tensor(run["align"], dtype=torch.float64) if run.get("align") is not None else None
    return fuse(torch.tensor(run["recon"], dtype=torch.float64), align, run["model_config"]["gamma"])


def by_defect_type(subset: str, data_dir) -> dict | None:
    """AUROC of each stored run's detection score A(x) (Eq. 7: R(x) alone for every model but
    DAAD+), normal test images against each defect type alone, and the median defect area of
    each type (fraction of the image's pixels)."""
    types = [path.parent.name for path, _, _ in list_split(mvtec_folder(subset, data_dir), "test")]  # (n,)
    names = sorted(set(types))
    codes = torch.tensor([names.index(t) for t in types])  # (n,) defect type of each test image
    good = names.index("good")
    out = {"types": [n for n in names if n != "good"], "test_images": len(types),
           "defective_test_images": sum(t != "good" for t in types), "auroc": {}, "median_defect_area": {}, "shift": {}}
    for variant in MVTEC_VARIANTS:
        path = results_dir(PROTOCOL) / "runs" / f"{run_name('mvtec', subset, variant, 0, default_tag(variant))}.json"
        if not path.exists():
            continue
        run = json.loads(path.read_text())
        if len(run["recon"]) != len(types) or [int(t != "good") for t in types] != run["labels"]:
            raise ValueError(f"{path.name}: its scores do not follow the test images of {subset}")
        score = detection_score(run)  # (n,) A(x) of every test image
        out["auroc"][variant] = {names[k]: v for k, v in pair_aurocs(score, codes, good).items()}
        out["shift"][variant] = shift(score[codes == good], score[codes != good])
        if not out["median_defect_area"]:  # the masks are the same for every run
            area = torch.tensor(run["defect_area"])  # (n,) fraction of each test image's pixels in defects
            out["median_defect_area"] = {names[k]: float(area[codes == k].median()) for k in range(len(names)) if k != good}
    return out if out["auroc"] else None


def rule_rows(summary: dict, data_dir) -> dict | None:
    """On MNIST, the classes where another addressing rule was trained: image AUROC and the pair
    AUROC against the hardest anomalous class, for the AE, the default rule and each other rule."""
    if "mnist" not in summary:
        return None
    hardest = summary["mnist"]["hardest_anomalous_class"]["ae"]["class"]
    rows = {}
    for normal in range(10):
        if str(normal) == hardest:
            continue  # no pair with itself
        runs = {rule: by_class("mnist", normal, "daad", data_dir, tag=rule) for rule in OTHER_RULES}
        if all(run is None for run in runs.values()):
            continue
        runs = {"ae": by_class("mnist", normal, "ae", data_dir), "cosine": by_class("mnist", normal, "daad", data_dir),
                **runs}
        rows[str(normal)] = {key: None if run is None else {"image_auroc": stored_image_auroc(run["name"]),
                                                            "hardest_pair": run["auroc_by_class"][hardest]}
                             for key, run in runs.items()}
    if not rows:
        return None
    # the probe's criterion (PROBE): a rule lifts the pair AUROC above the default's on every class run
    lifts = {rule: all(row[rule] is not None and row[rule]["hardest_pair"] > row["cosine"]["hardest_pair"]
                       for row in rows.values()) for rule in OTHER_RULES}
    return {"hardest_class": hardest, "rows": rows, "classes_run": len(rows), "lifts_on_every_class": lifts,
            "criterion_met": any(lifts.values())}


def column_means(rows: dict) -> dict[str, float]:
    """Mean pair AUROC of each anomalous class over the normal classes run: which class is hard."""
    others = sorted({other for aurocs in rows.values() for other in aurocs}, key=int)
    return {other: statistics.fmean(aurocs[other] for aurocs in rows.values() if other in aurocs) for other in others}


def hardest(rows: dict) -> dict:
    """The anomalous class with the lowest mean pair AUROC, and the lowest mean among the others."""
    means = column_means(rows)
    worst = min(means, key=means.get)
    return {"class": worst, "mean_pair_auroc": means[worst],
            "others_lowest": min(v for k, v in means.items() if k != worst)}


def plot(matrices: dict, path) -> None:
    """One heat map per dataset and model: rows the normal class, columns the anomalous class."""
    fig, axes = subplots(len(matrices), len(VARIANTS), figsize=(4.6 * len(VARIANTS), 4.0 * len(matrices)),
                         squeeze=False)
    for row_axes, (dataset, by_variant) in zip(axes, matrices.items()):
        for ax, (variant, rows) in zip(row_axes, by_variant.items()):
            grid = torch.full((10, 10), float("nan"))
            for normal, aurocs in rows.items():
                for other, value in aurocs.items():
                    grid[int(normal), int(other)] = value
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn")
            ax.set_xticks(range(10), CLASSES[dataset], rotation=90, fontsize=7)
            ax.set_yticks(range(10), CLASSES[dataset], fontsize=7)
            ax.set_xlabel("anomalous class")
            ax.set_ylabel("normal class")
            ax.set_title(f"{dataset}, {NAMES[variant]}: AUROC per pair", fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
    save_figure(fig, path)


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"]),
                                          p.add_argument("--subsets", nargs="+", default=["bottle", MAGNETIC_TILE])))
    args.protocol = PROTOCOL
    began = time.perf_counter()
    matrices, summary = {}, {}
    for dataset in args.datasets:
        matrices[dataset] = {variant: {} for variant in VARIANTS}
        for normal in range(10):
            runs = {variant: by_class(dataset, normal, variant, args.data_dir) for variant in VARIANTS}
            if any(run is None for run in runs.values()):
                continue  # compare AE and DAAD on the same classes only
            for variant, run in runs.items():
                matrices[dataset][variant][str(normal)] = run["auroc_by_class"]
        pairs = {variant: [v for rows in by.values() for v in rows.values()]
                 for variant, by in matrices[dataset].items()}
        if not pairs["ae"]:
            continue
        summary[dataset] = {
            "normal_classes_run": len(matrices[dataset]["ae"]),
            "pairs": len(pairs["ae"]),
            **{variant: {"pairs_below_chance": sum(v < 0.5 for v in values),
                         "pairs_below_0_7": sum(v < 0.7 for v in values),
                         "mean_pair_auroc": statistics.fmean(values)} for variant, values in pairs.items()},
            "daad_minus_ae_by_pair": {"mean": statistics.fmean(d - a for d, a in zip(pairs["daad"], pairs["ae"])),
                                      "daad_higher": sum(d > a for d, a in zip(pairs["daad"], pairs["ae"]))},
            "mean_by_anomalous_class": {variant: column_means(by) for variant, by in matrices[dataset].items()},
            "hardest_anomalous_class": {variant: hardest(by) for variant, by in matrices[dataset].items()},
            "correlation_ae_daad": float(torch.corrcoef(torch.tensor([pairs["ae"], pairs["daad"]]))[0, 1]),
        }
    lines = ["### Table 2 split by anomalous class (CPU protocol 2, seed 0; score R(x))", "",
             "For each normal class, the anomalous class the model separates worst (its AUROC against the "
             "normal test images alone). Below 0.5: that class is rebuilt better than the normal class.", ""]
    for dataset, by_variant in matrices.items():
        if dataset not in summary:
            continue
        names = CLASSES[dataset]
        lines += [f"**{dataset}** ({summary[dataset]['normal_classes_run']} normal classes with both models)", "",
                  "| normal class | AE: worst pair | DAAD: worst pair | pairs below 0.7, AE / DAAD |", "|---|---|---|---|"]
        for normal in by_variant["ae"]:
            cells = []
            for variant in VARIANTS:
                other, value = min(by_variant[variant][normal].items(), key=lambda item: item[1])
                cells.append(f"{names[int(other)]}: {value:.3f}")
            low = " / ".join(str(sum(v < 0.7 for v in by_variant[v][normal].values())) for v in VARIANTS)
            lines.append(f"| {names[int(normal)]} | " + " | ".join(cells) + f" | {low} |")
        s = summary[dataset]
        columns = s["mean_by_anomalous_class"]
        lines += ["", "Mean pair AUROC of each anomalous class (over the normal classes run):", "",
                  "| model | " + " | ".join(names[int(k)] for k in columns["ae"]) + " |", "|---" * (len(columns["ae"]) + 1) + "|"]
        lines += [f"| {NAMES[v]} | " + " | ".join(f"{x:.3f}" for x in columns[v].values()) + " |" for v in VARIANTS]
        lines += ["", f"Over all {s['pairs']} pairs: AE below 0.5 in {s['ae']['pairs_below_chance']}, DAAD in "
                  f"{s['daad']['pairs_below_chance']}; DAAD higher than the AE in {s['daad_minus_ae_by_pair']['daad_higher']} "
                  f"(mean difference {s['daad_minus_ae_by_pair']['mean']:+.3f}); correlation of the two models' "
                  f"pair AUROCs {s['correlation_ae_daad']:.2f}.", ""]
    defects = {subset: split for subset in args.subsets if (split := by_defect_type(subset, args.data_dir))}
    for subset, split in defects.items():
        lines += [f"**{subset.replace('_', ' ')}** (protocol 2, 128 px, 100 epochs, seed 0): AUROC of the normal test "
                  "images against each defect type alone", "",
                  "| model | " + " | ".join(split["types"]) + " |", "|---" * (len(split["types"]) + 1) + "|"]
        lines += [f"| {NAMES[v]} | " + " | ".join(f"{row[t]:.3f}" for t in split["types"]) + " |"
                  for v, row in split["auroc"].items()]
        lines += ["| median defect area (% of the image) | " + " | ".join(
            f"{100 * split['median_defect_area'][t]:.2f}" for t in split["types"]) + " |", "",
                  "How far a defect moves the detection score A(x) (Eq. 7; R(x) for every model but DAAD+), in "
                  "standard deviations of A(x) over the normal test images: "
                  + ", ".join(f"{NAMES[v]} {row['in_normal_stds']:.2f}" for v, row in split["shift"].items()) + ".", ""]
    rules = rule_rows(summary, args.data_dir)
    if rules:
        lines += ["**Sharper addressing on the hardest class.** The addressing study's other rules, on the MNIST "
                  "classes where they were trained: image AUROC, then in brackets the pair AUROC against the "
                  f"hardest anomalous class ({rules['hardest_class']}). {PROBE}", "",
                  "| normal class | AE | DAAD cosine (default) | " + " | ".join(f"DAAD {r}" for r in OTHER_RULES) + " |",
                  "|---" * (3 + len(OTHER_RULES)) + "|"]
        for normal, cells in rules["rows"].items():
            lines.append(f"| {normal} | " + " | ".join(
                "–" if cell is None else f"{cell['image_auroc']:.3f} ({cell['hardest_pair']:.3f})" for cell in cells.values()) + " |")
        lines += ["", "Criterion met: " + ("yes (" + ", ".join(r for r, ok in rules["lifts_on_every_class"].items() if ok) + ")"
                  if rules["criterion_met"] else "no: neither sharper rule lifts the pair AUROC above the default's on every class") + ".", ""]
        summary["mnist"]["other_rules"] = rules
    plot(matrices, results_dir(PROTOCOL) / "anomaly_classes.png")
    write_outputs(PROTOCOL, "anomaly_classes", {
        "what": "Table 2 (protocol 2) split by anomalous class", "seed": 0, "image_size": ONECLASS["image_size"],
        "epochs": ONECLASS["epochs"], "total_wall_time_s": time.perf_counter() - began,
        "summary": summary, "auroc_by_pair": matrices, "by_defect_type": defects}, "\n".join(lines))


if __name__ == "__main__":
    main()
