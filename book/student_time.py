"""Estimate each chapter's student time (reading, questions, exercises) from the notebooks, and
write it beside the machine time into book/student_time.md (included by book/running.md).

    python book/student_time.py            # CI runs it before the build, so the page stays current

The method, stated on the page as well (every constant below is one of its assumptions):

- **reading**: what a student sees (solutions and the book's plumbing left out, the same
  selection as the slides, ``book/slides.py``): the prose's words at ``WORDS_PER_MINUTE``, plus
  ``MINUTES_PER_EQUATION`` for every display equation and the visible code's lines at
  ``CODE_LINES_PER_MINUTE``;
- **questions**: the numbered items under "Check your understanding", ``MINUTES_PER_QUESTION`` each;
- **exercises**: every ``:::{exercise}`` block, by its difficulty stars (``MINUTES_PER_STARS``);
- **machine**: the papermill time of the chapter in the build recorded in book/timings.json
  (default parameters), which a student also waits for when running the chapter top to bottom.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE = 200  # careful reading of technical prose; light reading is faster
MINUTES_PER_EQUATION = 1.0
CODE_LINES_PER_MINUTE = 20
MINUTES_PER_QUESTION = 3
MINUTES_PER_STARS = {1: 10, 2: 20, 3: 40}  # ★ a short answer or one function; ★★★ a small study
EXERCISE = re.compile(r"^\s*:{3,}\s*\{exercise\}(.*)$", re.M)

_spec = importlib.util.spec_from_file_location("book_slides", ROOT / "book" / "slides.py")
slides = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(slides)
slides.LONG_CODE_LINES = 10**9  # the book shows long code cells that the slides leave out


def questions(markdown: str) -> int:
    """Numbered items in the "Check your understanding" section."""
    match = re.search(r"^#+\s*Check your understanding\s*$(.*?)(?=^#+\s|\Z)", markdown, re.M | re.S)
    return len(re.findall(r"^\s*\d+\.\s", match.group(1), re.M)) if match else 0


def count(notebook: Path) -> dict:
    """Words, equations, code lines, questions and exercises (by stars) of one chapter."""
    nb = nbformat.read(notebook, as_version=4)
    raw = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    stars = [max(1, title.count("★")) for title in EXERCISE.findall(raw)]
    deck, _ = slides.slide_notebook(nb)
    prose, equations, code_lines = [], 0, 0
    for cell in deck.cells:
        if cell.cell_type == "code":
            if not cell.metadata.get("transient", {}).get("remove_source"):
                code_lines += len([l for l in cell.source.splitlines() if l.strip()])
            continue
        text = cell.source
        equations += len(re.findall(r"^\$\$\s*$", text, re.M)) // 2
        text = re.sub(r"^\$\$\s*$.*?^\$\$\s*$", " ", text, flags=re.M | re.S)
        for block in re.findall(r"^(`{3,}).*?$(.*?)^\1\s*$", text, flags=re.M | re.S):
            code_lines += len([l for l in block[1].splitlines() if l.strip()])
        text = re.sub(r"^(`{3,}).*?$.*?^\1\s*$", " ", text, flags=re.M | re.S)
        prose.append(text)
    words = len(re.findall(r"[^\s#*|>-]+", "\n".join(prose)))
    return {"words": words, "equations": equations, "code_lines": code_lines,
            "questions": questions(raw), "exercise_stars": stars}


def minutes(c: dict) -> dict:
    reading = c["words"] / WORDS_PER_MINUTE + c["equations"] * MINUTES_PER_EQUATION + c["code_lines"] / CODE_LINES_PER_MINUTE
    exercises = sum(MINUTES_PER_STARS[min(s, 3)] for s in c["exercise_stars"])
    return {"reading": reading, "questions": c["questions"] * MINUTES_PER_QUESTION, "exercises": exercises}


def machine_minutes() -> dict[str, float]:
    path = ROOT / "book" / "timings.json"
    if not path.exists():
        return {}
    return {c["notebook"]: c["seconds"] / 60 for c in json.loads(path.read_text())["chapters"]}


def table(notebooks: list[Path]) -> str:
    machine = machine_minutes()
    rows = ["| chapter | words, equations, code lines | reading | questions | exercises (stars) | "
            "**student time** | machine time |", "|---|---|---|---|---|---|---|"]
    totals = {"reading": 0.0, "questions": 0.0, "exercises": 0.0, "machine": 0.0}
    for notebook in notebooks:
        c, m = count(notebook), None
        m = minutes(c)
        student = m["reading"] + m["questions"] + m["exercises"]
        run = machine.get(notebook.stem)
        for key in ("reading", "questions", "exercises"):
            totals[key] += m[key]
        totals["machine"] += run or 0
        stars = " ".join("★" * s for s in c["exercise_stars"]) or "none"
        rows.append(f"| `{notebook.stem}` | {c['words']:,}, {c['equations']}, {c['code_lines']} | "
                    f"{m['reading']:.0f} min | {c['questions']} · {m['questions']:.0f} min | "
                    f"{len(c['exercise_stars'])} ({stars}) · {m['exercises']:.0f} min | "
                    f"**{student / 60:.1f} h** | {f'{run:.1f} min' if run is not None else 'not recorded'} |")
    student = totals["reading"] + totals["questions"] + totals["exercises"]
    rows.append(f"| **all chapters** | | {totals['reading'] / 60:.1f} h | {totals['questions'] / 60:.1f} h | "
                f"{totals['exercises'] / 60:.1f} h | **{student / 60:.1f} h** | {totals['machine']:.1f} min |")
    stars = ", ".join(f"{'★' * k} {v} min" for k, v in MINUTES_PER_STARS.items())
    method = (f"Counted by `python book/student_time.py` from the notebooks (CI recounts before every build). "
              f"Reading: what a student sees (no solutions, no hidden plumbing) at {WORDS_PER_MINUTE} words a minute, "
              f"{MINUTES_PER_EQUATION:g} min per display equation and {CODE_LINES_PER_MINUTE} lines of code a minute. "
              f"Questions: {MINUTES_PER_QUESTION} min for each \"check your understanding\" question. Exercises: "
              f"by difficulty, {stars}, counted from the chapters' exercise blocks. These are estimates for a "
              f"student new to the topic, not measurements; the machine time (from `book/timings.json`, "
              f"default parameters) is measured, and comes on top where a student runs the chapter.")
    return "\n".join(rows) + "\n\n" + method + "\n"


def main() -> None:
    text = table(sorted((ROOT / "notebooks").glob("*.ipynb")))
    (ROOT / "book" / "student_time.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
