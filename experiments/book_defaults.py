"""A chapter's teaching setting: at which budget does the chapter's own run show its lesson?

    python -m experiments.book_defaults                      # chapter 4 on bottle
    python -m experiments.book_defaults --data standin       # the stand-in, for the prose
    python -m experiments.book_defaults --chapter 5          # chapter 5 (rule: results/book/ch5_rule.md)
    python -m experiments.book_defaults --chapter 1          # chapter 1 (rule: results/book/ch1_rule.md)
    python -m experiments.book_defaults --chapter 4-128      # chapter 4's pair at 128 px (results/book/ch4_128_rule.md)
    python -m experiments.book_defaults --cached-only        # the table from the stored runs

Chapter 4 (below): DAAD's image AUROC above the AE's. Chapter 5: A(x) above R(x) on one DAAD+
(``results/book/ch5_rule.md``). Chapter 1: the AE above the AE with skips
(``results/book/ch1_rule.md``). All use the same grid, seeds and "shows it" test.

This is a *teaching setting*, not model selection: the question is which of a few budgets lets a
student's run of chapter 4 show the chapter's effect (DAAD's image AUROC above the AE's) beyond
the spread over seeds, within the chapter's CI time. No library default changes. The rule below
was committed before any run (``results/book/defaults_rule.md`` says the same):

* runs: the chapter's own path, :func:`daad_lib.book.bottle_or_standin` at the chapters' 64 px,
  :func:`daad_lib.train.train_new` with ``TrainConfig(epochs=64, seed=s)`` (the chapters'
  recipe: batch 8, flips, ``precision="auto"``), for the AE and DAAD presets and seeds 0, 1, 2;
  (amended 2026-12-03, before the stand-in's rerun: "flips" is the data's default,
  ``TrainConfig(flips=None)``: bottle keeps them, the digits stand-in trains without them,
  ``results/dcae/flips.md``; each run file records its flips, and the stand-in's runs with
  flips are kept in ``results/book/defaults_flipped/``)
  each model is evaluated (``daad_lib.evaluate.evaluate``, image AUROC of A(x)) after
  E = 8, 16, 32 and 64 epochs (kept checkpoints of the one run: the learning rate is constant,
  so the model after E epochs is the model of an E-epoch run);
* effect at E: d_s = AUROC_DAAD - AUROC_AE for seed s; its mean d and standard deviation sd
  over the three seeds (n - 1);
* the chapter's default is the smallest E with d > 0 and d > sd whose projected chapter time
  (its measured CI time at 8 epochs x E / 8) is at most MAX_CHAPTER_SECONDS; if no E qualifies the
  default stays 8 epochs and the chapter says, from these runs' numbers, that its run does not
  show the effect and at what budget it does (if any).
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from daad_lib.book import bottle_or_standin, is_standin
from daad_lib.checkpoint import load_detector
from daad_lib.config import make_config
from daad_lib.evaluate import metrics_from_scores, score_dataset
from daad_lib.metrics import image_auroc
from daad_lib.provenance import results_info
from daad_lib.train import TrainConfig, kept_checkpoint_name, train_new

from .common import ROOT, parse_args, write_outputs

PROTOCOL = "book"
IMAGE_SIZE = 64  # the chapters' default (their parameters cells)
BUDGETS = (8, 16, 32, 64)
SEEDS = (0, 1, 2)
MAX_CHAPTER_SECONDS = 360  # a chapter's share of CI's 30 minutes


@dataclass(frozen=True)
class Arm:
    """One side of a chapter's comparison: a model and which of its image AUROCs."""
    name: str  # the table's column
    key: str  # the report's "<key>_mean"
    model: str
    auroc: str  # "image_auroc" (A(x) at the model's gamma) or "image_auroc_r" (R(x) alone)


@dataclass(frozen=True)
class Chapter:
    notebook: str
    seconds_at_8: float | None  # the chapter's papermill time in CI at 8 epochs; None: projected from the runs
    arms: tuple[Arm, Arm]  # the effect is arms[1] - arms[0], paired by seed
    folder: str  # results/book/<folder>/: the run files
    stem: str  # results/book/<stem>_<data>.{md,json}: the table
    rule: str  # where the rule was written down before the runs
    what: str
    beside: tuple[str, str, str] | None = None  # (table stem, "<key>_mean", name): another grid's mean, reported only
    image_size: int = IMAGE_SIZE
    budgets: tuple[int, ...] = BUDGETS
    max_seconds: float = MAX_CHAPTER_SECONDS  # the projected time a budget may take

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(arm.model for arm in self.arms))


CHAPTERS = {
    "1": Chapter("notebooks/01_reconstruction.ipynb", 18,  # book/timings.json, e590a50
               (Arm("AE+Skip", "ae_skip", "ae_skip", "image_auroc"), Arm("AE", "ae", "ae", "image_auroc")),
               "ch1", "ch1", "results/book/ch1_rule.md",
               "chapter 1's effect (AE - AE+Skip image AUROC) by training budget: a teaching setting"),
    "4": Chapter("notebooks/04_daad.ipynb", 99,  # stop 22's CI run
               (Arm("AE", "ae", "ae", "image_auroc"), Arm("DAAD", "daad", "daad", "image_auroc")),
               "defaults", "defaults", "this module's docstring and results/book/defaults_rule.md",
               "chapter 4's effect (DAAD - AE image AUROC) by training budget: a teaching setting"),
    "5": Chapter("notebooks/05_daad_plus.ipynb", 11,  # book/timings.json, e590a50
               (Arm("R(x)", "r", "daad_plus", "image_auroc_r"), Arm("A(x), γ = 0.9", "a", "daad_plus", "image_auroc")),
               "ch5", "ch5", "results/book/ch5_rule.md",
               "chapter 5's effect (A(x) - R(x) image AUROC of one DAAD+) by training budget: a teaching setting",
               beside=("defaults", "daad_mean", "DAAD (chapter 4's grid)")),
    # chapter 4's headline pair at protocol 2's 128 px (results/book/ch4_128_rule.md): its time is
    # projected from the runs' own training times, AE + DAAD, plus EVALUATION_SECONDS
    "4-128": Chapter("notebooks/04_daad.ipynb", None,
                     (Arm("AE", "ae", "ae", "image_auroc"), Arm("DAAD", "daad", "daad", "image_auroc")),
                     "ch4_128", "ch4_128", "results/book/ch4_128_rule.md",
                     "chapter 4's headline pair at 128 px (DAAD - AE image AUROC) by training budget: a teaching setting",
                     image_size=128, budgets=(12, 25, 50), max_seconds=240),
}
EVALUATION_SECONDS = 20  # ch4_128_rule.md: scoring both models' test sets, added to the projection


def shows_effect(differences: list[float]) -> bool:
    """The rule: the mean paired difference is positive and larger than its spread over seeds."""
    mean, spread = statistics.mean(differences), statistics.stdev(differences)
    return mean > 0 and mean > spread


def chosen_budget(effects: dict[int, list[float]], seconds: dict[int, float],
                  max_seconds: float = MAX_CHAPTER_SECONDS) -> int | None:
    """The smallest budget that shows the effect within the chapter's projected time
    (``seconds``: budget -> projected seconds), or None."""
    for epochs in sorted(effects):
        if seconds[epochs] <= max_seconds and shows_effect(effects[epochs]):
            return epochs
    return None


def projected_seconds(chapter: Chapter, runs: dict, epochs: int) -> float:
    """A budget's projected chapter time: the chapter's CI time at 8 epochs scaled by the budget,
    or (``seconds_at_8`` None) the runs' own training time of every model, mean over the seeds,
    plus ``EVALUATION_SECONDS``."""
    if chapter.seconds_at_8 is not None:
        return chapter.seconds_at_8 * epochs / 8
    return EVALUATION_SECONDS + sum(statistics.mean(runs[m, s, epochs]["train_wall_time_s"] for s in SEEDS)
                                    for m in chapter.models)


def run_file(chapter: Chapter, data: str, model: str, seed: int, epochs: int) -> Path:
    """A stored evaluation; one without a ``flips`` field was trained with flips (the old default)."""
    return ROOT / "results" / PROTOCOL / chapter.folder / f"{data}-{model}-seed{seed}-ep{epochs:02d}.json"


def train_and_evaluate(chapter: Chapter, data: str, model: str, seed: int, data_dir: str | None) -> None:
    """One 64-epoch run (resumed from its folder), evaluated at every budget not stored yet."""
    if all(run_file(chapter, data, model, seed, e).exists() for e in chapter.budgets):
        return
    train_set, test_set, source = bottle_or_standin(data_dir if data == "bottle" else "/nonexistent",
                                                    chapter.image_size)
    if (data == "bottle") == is_standin(source):
        raise SystemExit(f"asked for {data} but found {source}: pass --data-dir with MVTec AD bottle")
    channels = train_set[0]["image"].shape[0]
    config = make_config(model, image_size=chapter.image_size, channels=channels)
    tc = TrainConfig(epochs=max(chapter.budgets), seed=seed, keep_epochs=chapter.budgets)
    size = "" if chapter.image_size == IMAGE_SIZE else f"-{chapter.image_size}px"  # 64 px runs serve chapters 1 and 4
    folder = ROOT / "runs" / "experiments" / PROTOCOL / f"{data}-{model}-seed{seed}{size}"
    began = time.perf_counter()
    _, history = train_new(config, train_set, tc, out_dir=folder, resume=(folder / "checkpoint.pt").exists(),
                           progress=False)
    print(f"{data} {model} seed {seed}: trained in {time.perf_counter() - began:.0f} s", flush=True)
    for epochs in chapter.budgets:
        detector, state = load_detector(folder / kept_checkpoint_name(epochs), model)
        scores = score_dataset(detector.eval(), test_set)
        metrics = metrics_from_scores(scores, detector.config.gamma)  # A(x), Eq. 7 (R(x) where gamma = 1)
        result = {**results_info(), "data": source, "model": model, "seed": seed, "epochs": epochs,
                  "image_size": chapter.image_size, "batch_size": tc.batch_size, "precision": state["history"][-1]["precision"],
                  "flips": state["train_config"]["flips"],
                  "train_wall_time_s": sum(e["seconds"] for e in state["history"][:epochs]),
                  "image_auroc": metrics["image_auroc"], "pixel_auroc": metrics.get("pixel_auroc"),
                  "gamma": detector.config.gamma, "image_auroc_r": image_auroc(scores["recon"], scores["labels"]),
                  "image_auroc_l": (image_auroc(scores["align"], scores["labels"])
                                    if scores.get("align") is not None else None),
                  "model_config": config.to_dict()}
        path = run_file(chapter, data, model, seed, epochs)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"  epoch {epochs}: image AUROC {result['image_auroc']:.3f}", flush=True)


def beside_lines(chapter: Chapter, data: str, runs: dict, complete: list[int]) -> list[str]:
    """The chapter's second arm beside another committed grid's mean (ch5_rule.md: reported, never
    used to choose; that grid may have run on other hardware, which its run files name)."""
    stem, key, name = chapter.beside
    path = ROOT / "results" / PROTOCOL / f"{stem}_{data}.json"
    if not path.exists():
        return []
    other = json.loads(path.read_text())["by_budget"]
    second = chapter.arms[1]
    hardware = sorted({f"{r['hardware']['cpu']}, {r['precision']}" for r in json.loads(path.read_text())["runs"]})
    return ["", f"Beside {name} ({'; '.join(hardware)}), mean over the same seeds: "
            + "; ".join(f"{e} epochs {statistics.mean(arm_values(runs, second, e)):.3f} against "
                        f"{other[str(e)][key]:.3f}" for e in complete if str(e) in other) + "."]


def heading(what: str) -> str:
    """'chapter 4's effect (...) by training budget: ...' -> 'Chapter 4's effect (...)'."""
    head = what.split(" by ")[0]
    return head[0].upper() + head[1:]


def arm_values(runs: dict, arm: Arm, epochs: int) -> list[float]:
    """The arm's image AUROC for each seed at ``epochs``."""
    return [runs[arm.model, s, epochs][arm.auroc] for s in SEEDS]


def tabulate(chapter: Chapter, data: str) -> None:
    runs = {(m, s, e): json.loads(run_file(chapter, data, m, s, e).read_text())
            for m in chapter.models for s in SEEDS for e in chapter.budgets if run_file(chapter, data, m, s, e).exists()}
    complete = [e for e in chapter.budgets if all((m, s, e) in runs for m in chapter.models for s in SEEDS)]
    first, second = chapter.arms
    effects = {e: [b - a for a, b in zip(arm_values(runs, first, e), arm_values(runs, second, e))] for e in complete}
    finished = complete == list(chapter.budgets)
    seconds = {e: projected_seconds(chapter, runs, e) for e in complete}
    choice = chosen_budget(effects, seconds, chapter.max_seconds) if finished else None
    lines = [f"### {heading(chapter.what)} on {data} by budget "
             f"({chapter.image_size} px, seeds {list(SEEDS)}, image AUROC)", "",
             f"| epochs | {first.name} (mean ± sd) | {second.name} (mean ± sd) | {second.name} − {first.name} per seed | "
             "mean ± sd | shows it | projected chapter time |", "|---|---|---|---|---|---|---|"]
    for e in complete:
        a, b, d = arm_values(runs, first, e), arm_values(runs, second, e), effects[e]
        lines.append(f"| {e} | {statistics.mean(a):.3f} ± {statistics.stdev(a):.3f} | "
                     f"{statistics.mean(b):.3f} ± {statistics.stdev(b):.3f} | "
                     + ", ".join(f"{x:+.3f}" for x in d)
                     + f" | {statistics.mean(d):+.3f} ± {statistics.stdev(d):.3f} | "
                     f"{'yes' if shows_effect(d) else 'no'} | {seconds[e]:.0f} s |")
    if finished:
        lines += ["", (f"By the rule: **{choice} epochs**." if choice else
                       f"By the rule: no budget up to {max(chapter.budgets)} epochs shows the effect within "
                       f"{chapter.max_seconds:.0f} s ({chapter.rule} says what the chapter does then).")]
    if chapter.beside and complete:
        lines += beside_lines(chapter, data, runs, complete)
    by_budget = {}
    for e, d in effects.items():
        by_budget[str(e)] = {"mean": statistics.mean(d), "sd": statistics.stdev(d), "shows": shows_effect(d),
                             **{f"{arm.key}_mean": statistics.mean(arm_values(runs, arm, e)) for arm in chapter.arms}}
        l_alone = [runs[first.model, s, e].get("image_auroc_l") for s in SEEDS]
        if all(value is not None for value in l_alone):  # DAAD+'s L(x) alone: reported, never chosen by
            by_budget[str(e)]["l_mean"] = statistics.mean(l_alone)
    report = {"what": chapter.what, "chapter": chapter.notebook, "rule_written_in": chapter.rule, "data": data,
              "image_size": chapter.image_size, "seeds": list(SEEDS), "budgets": list(chapter.budgets),
              "chapter_seconds_at_8": chapter.seconds_at_8, "max_chapter_seconds": chapter.max_seconds,
              "projected_seconds": {str(e): s for e, s in seconds.items()},
              "effects": {str(e): d for e, d in effects.items()}, "chosen_epochs": choice,
              "by_budget": by_budget, "complete": finished,
              "runs": [{k: r[k] for k in ("model", "seed", "epochs", "image_auroc", "train_wall_time_s",
                                          "precision", "git_commit", "hardware")}
                       | {"flips": r.get("flips", True)} for r in runs.values()]}
    if chapter.folder == "defaults":  # chapter 4's rule is this module's docstring
        report["rule"] = __doc__.split("was committed before any run")[1].strip()
    write_outputs(PROTOCOL, f"{chapter.stem}_{data}", report, "\n".join(lines) + "\n")


def main() -> None:
    def extra(parser):
        parser.add_argument("--data", choices=["bottle", "standin"], default="bottle")
        parser.add_argument("--chapter", choices=sorted(CHAPTERS), default="4")

    args = parse_args(__doc__, extra)
    chapter = CHAPTERS[args.chapter]
    if not args.cached_only:
        for seed in SEEDS:
            for model in chapter.models:
                train_and_evaluate(chapter, args.data, model, seed, args.data_dir)
    tabulate(chapter, args.data)


if __name__ == "__main__":
    main()
