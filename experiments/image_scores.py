"""The image score rules side by side, over every committed run that was scored with all three.

Issue 20 §4b and ``results/image_score/rule.md``: R(x) (``mean``, the paper) against two scores
read from the smoothed anomaly map (``map_max``, ``map_top1pct``), all computed from the same
checkpoint by ``daad_lib.scoring.image_score`` and stored in each run file as
``image_auroc_by_score``. This script trains nothing: it gathers those numbers from
``results/*/runs*/*.json``, groups them by protocol, dataset, budget and model, and says for each
group how many seeds and classes it has. It does **not** apply the rule for the default: the rule
needs 3 seeds on all 4 datasets at one protocol, and the report says which of them are there.

    python -m experiments.image_scores
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from daad_lib.data.common import FITS
from daad_lib.data.mvtec import MAGNETIC_TILE
from daad_lib.provenance import results_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "image_score"
RULES = ("mean", "map_max", "map_top1pct")
RULE_DATASETS = ("mnist", "cifar10", "bottle", MAGNETIC_TILE)  # the four of rule.md


def dataset_of(run: dict) -> tuple[str, str]:
    """(dataset, subset) of a run file: the one-class runs name both, the MVTec runs only their name."""
    if run.get("dataset") in ("mnist", "cifar10"):
        return run["dataset"], run.get("subset", "")
    for name in ("bottle", MAGNETIC_TILE):
        if name in run["name"]:
            return name, ""
    return run.get("dataset", run["name"]), run.get("subset", "")


def budget_of(run: dict) -> int | None:
    return run.get("epoch") or run.get("epochs")


# runs of the DCAE recipe whose weight decay was not the recipe's (results/dcae/observations.md)
DECAY_LABELS = {"runs_strong_decay": " (decay 5x)", "runs_weak_decay": " (decay 1/4)"}


def gather(paths) -> dict:
    """{(protocol, dataset, epochs, model): {subset: {seed: {rule: AUROC}}}} from run files."""
    groups = defaultdict(lambda: defaultdict(dict))
    for path in sorted(paths):
        run = json.loads(path.read_text())
        scores = run.get("image_auroc_by_score")
        if not scores or any(scores.get(rule) is None for rule in RULES):
            continue
        dataset, subset = dataset_of(run)
        model = run.get("variant") or run["name"].split("-")[2]  # mvtec-<subset>-<variant>-...
        if run.get("tag") and run.get("protocol") == "dcae":  # a diagnostic's change (dcae_diagnose), its own row
            model += f" ({run['tag']})"
        if run.get("fit", FITS[0]) != FITS[0]:  # not the library's default fit: T2's padded inputs (results/texture/aspect_rule.md), their own row
            model += f" ({run['fit']})"
        flipped_digits = dataset in ("mnist", "cifar10") and (run.get("flips") or path.parent.name == "runs_flipped")
        protocol = run.get("protocol", path.parent.parent.name) + (" (flips)" if flipped_digits else "")  # MVTec always flips
        protocol += DECAY_LABELS.get(path.parent.name, "")  # the DCAE recipe's decay off its value
        key = (protocol, dataset, budget_of(run), model)
        group = groups[key][subset]
        if run["seed"] in group and group[run["seed"]] != scores:
            raise ValueError(f"{path}: a second, different run of {key} {subset} seed {run['seed']}")
        group[run["seed"]] = {rule: scores[rule] for rule in RULES}
    return groups


def summarise(groups: dict) -> list[dict]:
    """Per group: the mean over subsets (classes) of each rule's mean over seeds, and the gain of
    each map rule over ``mean``."""
    rows = []
    for (protocol, dataset, epochs, model), subsets in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0, kv[0][3])):
        per_rule = {rule: statistics.fmean(statistics.fmean(by_seed[s][rule] for s in by_seed)
                                           for by_seed in subsets.values()) for rule in RULES}
        seeds = sorted({s for by_seed in subsets.values() for s in by_seed})
        rows.append({"protocol": protocol, "dataset": dataset, "epochs": epochs, "model": model,
                     "subsets": sorted(subsets), "seeds": seeds,
                     "min_seeds_per_subset": min(len(by_seed) for by_seed in subsets.values()),
                     "image_auroc": per_rule,
                     "gain_over_mean": {rule: per_rule[rule] - per_rule["mean"] for rule in RULES[1:]}})
    return rows


def rule_status(rows: list[dict]) -> str:
    """Which of the rule's inputs (3 seeds, 4 datasets, AE and DAAD, one protocol) are present."""
    ready = {(r["protocol"], r["dataset"], r["model"]) for r in rows if r["min_seeds_per_subset"] >= 3}
    protocols = sorted({p for p, _, _ in ready})
    for protocol in protocols:
        if all((protocol, d, m) in ready for d in RULE_DATASETS for m in ("ae", "daad")):
            return f"all inputs present at protocol {protocol}: apply the rule (not done by this script)"
    return ("the rule is not applied: no protocol has 3 seeds of both the AE and DAAD on all four of "
            f"{', '.join(RULE_DATASETS)}; groups with 3 seeds: "
            + (", ".join(f"{p}/{d}/{m}" for p, d, m in sorted(ready)) or "none"))


def markdown(rows: list[dict], status: str) -> str:
    lines = ["### Image AUROC by image score (from the same checkpoints)", "",
             "| protocol | dataset | epochs | model | classes | seeds | mean (R(x)) | map_max | map_top1pct |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, g = r["image_auroc"], r["gain_over_mean"]
        classes = ", ".join(r["subsets"]) if r["subsets"] != [""] else "–"
        lines.append(f"| {r['protocol']} | {r['dataset']} | {r['epochs']} | {r['model']} | {classes} | "
                     f"{', '.join(map(str, r['seeds']))} | {a['mean']:.3f} | {a['map_max']:.3f} ({g['map_max']:+.3f}) "
                     f"| {a['map_top1pct']:.3f} ({g['map_top1pct']:+.3f}) |")
    return "\n".join(lines) + (
        "\n\nMeans over the listed classes of each class's mean over its seeds; in brackets the map "
        "rule's AUROC minus R(x)'s. The scores are `daad_lib.scoring.image_score`'s (rule.md). "
        f"Status of the default's rule: {status}.\n")


def main() -> None:
    rows = summarise(gather(ROOT.glob("results/*/runs*/*.json")))
    status = rule_status(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    report = {**results_info(), "what": __doc__.splitlines()[0], "rows": rows, "rule_status": status}
    (OUT / "scores.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(rows, status)
    (OUT / "scores.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
