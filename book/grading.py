"""Grade filled-in student copies with otter-grader, locally and without Docker.

    python book/grading.py SUBMISSION.ipynb [...]        # grade; writes grades/<name>.json
    python book/grading.py build --out _build/grading     # only write the autograders

Each chapter with a checked exercise gets an otter autograder, ``_build/grading/<chapter>.zip``
(``otter generate``), whose tests call :func:`daad_lib.exercises.grade`: the same hidden cases
and the same refusals as the check cell the student ran, one point per exercise. Grading a
submission is then otter's own non-containerised run,

    otter run -a _build/grading/02_toy_stripes.zip -o grades/ my_copy.ipynb

which this script calls for you (it finds the chapter in the copy's metadata, which
``book/student_copies.py`` writes, or else in the file name), building the autograder first if
it is missing. Otter executes the submission's cells except those tagged ``otter_ignore`` (the
student copy tags every cell but the imports, the parameters and the exercises and checks), so
grading takes seconds and trains nothing. The Python environment that runs this script must
have the book's packages (``pip install -e ".[book]"``): ``otter run`` installs nothing.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from daad_lib.exercises import EXERCISES, by_chapter  # noqa: E402

OUT = ROOT / "_build" / "grading"
TEST_FILE = '''"""{name} (notebooks/{chapter}.ipynb, exercise {label}): written by book/grading.py."""
from otter.test_files import test_case

OK_FORMAT = False
name = "{test}"
points = 1


@test_case(points=1, hidden=False)
def hidden_cases(env):
    from daad_lib.exercises import grade
    grade({name!r}, env)
'''


def test_name(label: str) -> str:
    return re.sub(r"\W", "_", label)


def chapters() -> list[str]:
    return sorted({exercise.chapter for exercise in EXERCISES.values()})


def build(out: Path = OUT, only: list[str] | None = None) -> dict[str, Path]:
    """Write ``out/<chapter>.zip`` for every chapter (or those in ``only``); returns their paths."""
    from otter.generate import main as generate

    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for chapter in only or chapters():
        with tempfile.TemporaryDirectory() as folder:
            tests = Path(folder) / "tests"
            tests.mkdir()
            for exercise in by_chapter(chapter):
                (tests / f"{test_name(exercise.label)}.py").write_text(TEST_FILE.format(
                    name=exercise.name, chapter=chapter, label=exercise.label, test=test_name(exercise.label)))
            (Path(folder) / "otter_config.json").write_text(json.dumps({"lang": "python"}))
            zip_path = (out / f"{chapter}.zip").resolve()
            # `otter generate -t tests -o <zip> -c otter_config.json --no-requirements --no-environment`,
            # in this process (eight command lines cost 2 s of start-up each)
            generate(tests_dir=str(tests), output_path=str(zip_path), config=str(Path(folder) / "otter_config.json"),
                     no_requirements=True, no_environment=True)
        written[chapter] = out / f"{chapter}.zip"
    return written


def chapter_of(submission: Path) -> str:
    """The chapter a submission is a copy of: from its metadata, else from its file name."""
    metadata = json.loads(submission.read_text(encoding="utf-8")).get("metadata", {})
    chapter = metadata.get("daad_book", {}).get("chapter")
    if chapter is None:
        chapter = next((c for c in chapters() if c in submission.name or submission.name.startswith(c[:3])), None)
    if chapter not in chapters():
        raise SystemExit(f"{submission}: cannot tell which chapter this is a copy of")
    return chapter


def grade(submission: Path, out: Path = OUT, results: Path = Path("grades")) -> dict:
    """Grade one submission with ``otter run``; returns otter's results (also written to
    ``results/<submission stem>.json``)."""
    chapter = chapter_of(submission)
    autograder = out / f"{chapter}.zip"
    if not autograder.exists():
        build(out, [chapter])
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(["otter", "run", "--no-logo", "-a", str(autograder.resolve()), "-o", folder,
                               str(submission.resolve())], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"otter run failed on {submission}:\n{done.stdout}\n{done.stderr}")
        report = json.loads((Path(folder) / "results.json").read_text())
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{submission.stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def summary(submission: Path, report: dict) -> str:
    tests = [test for test in report.get("tests", []) if "max_score" in test]  # not Gradescope's summary
    score = sum(test.get("score", 0) for test in tests)
    total = sum(test.get("max_score", 0) for test in tests)
    lines = [f"{submission}: {score:g} / {total:g}"]
    for test in tests:
        message = test.get("output", "").strip().splitlines()
        reason = next((line for line in reversed(message) if "AssertionError" in line), "")
        lines.append(f"  {test['name']}: {test.get('score', 0):g} / {test.get('max_score', 0):g}"
                     + (f"  ({reason.split('AssertionError: ', 1)[-1]})" if reason else ""))
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["build"]:
        parser = argparse.ArgumentParser(prog="book/grading.py build")
        parser.add_argument("--out", type=Path, default=OUT)
        args = parser.parse_args(argv[1:])
        for chapter, path in build(args.out).items():
            print(f"{chapter}: {path}")
        return
    parser = argparse.ArgumentParser(prog="book/grading.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--autograders", type=Path, default=OUT, help="where the autograder zips are")
    parser.add_argument("--results", type=Path, default=Path("grades"), help="where to write otter's results")
    args = parser.parse_args(argv)
    for submission in args.submissions:
        print(summary(submission, grade(submission, args.autograders, args.results)))


if __name__ == "__main__":
    main(sys.argv[1:])
