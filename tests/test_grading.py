"""Student copies executed and graded end to end (book/student_copies.py, book/grading.py).

Every student copy runs top to bottom (book/execute.sh, tiny parameters: 32 px, 1 epoch, 10 toy
steps) and each of its checks prints "not yet" on the untouched stub; otter-grader gives the
untouched copy zero and the copy with the chapter's reference solutions filled in full marks.
These need the book's extras and take minutes, so they run only when asked for:

    DAAD_BOOK_GRADING=1 pytest tests/test_grading.py      (the otter test only)
    DAAD_BOOK_GRADING=1 DAAD_BOOK_EXECUTE_COPIES=1 pytest tests/test_grading.py   (also every copy whole; .ci/run)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

if os.environ.get("DAAD_BOOK_GRADING") != "1":
    pytest.skip("set DAAD_BOOK_GRADING=1 to execute and grade the student copies", allow_module_level=True)
pytest.importorskip("otter")
pytest.importorskip("papermill")

from daad_lib.exercises import by_chapter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import grading  # noqa: E402
import student_copies  # noqa: E402

CHAPTERS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
TINY = {"DAAD_BOOK_IMAGE_SIZE": "32", "DAAD_BOOK_EPOCHS": "1", "DAAD_BOOK_TOY_STEPS": "10",
        "DAAD_BOOK_HEADLINE_SIZE": "32", "DAAD_BOOK_HEADLINE_EPOCHS": "1"}


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    student_copies.main(["--out", str(out)])
    return out


@pytest.mark.skipif(os.environ.get("DAAD_BOOK_EXECUTE_COPIES") != "1",
                    reason="set DAAD_BOOK_EXECUTE_COPIES=1 to execute every copy top to bottom (about 5 "
                           "minutes on 2 cores; .ci/run does)")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_student_copy_executes_and_its_checks_say_not_yet(copies, tmp_path, chapter):
    executed = tmp_path / f"{chapter}.ipynb"
    done = subprocess.run(["bash", str(ROOT / "book" / "execute.sh"), str(copies / f"{chapter}.ipynb"),
                           str(executed), "--cwd", str(copies)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **TINY})
    assert done.returncode == 0, done.stderr[-3000:]
    cells = json.loads(executed.read_text())["cells"]
    checks = [cell for cell in cells if "check" in cell.get("metadata", {}).get("tags", [])]
    assert len(checks) == len(by_chapter(chapter))
    for cell in checks:
        printed = "".join("".join(output.get("text", "")) for output in cell["outputs"])
        assert ": not yet: " in printed, printed
    assert not [output for cell in cells for output in cell.get("outputs", []) if output["output_type"] == "error"]


def test_otter_gives_the_reference_solutions_full_marks_and_the_stubs_zero(copies, tmp_path):
    autograders = grading.build(tmp_path / "autograders")
    submissions = []
    for chapter in CHAPTERS:
        functions = [exercise.function for exercise in by_chapter(chapter)]
        stub, solved = copies / f"{chapter}.ipynb", tmp_path / "solved" / f"{chapter}.ipynb"
        student_copies.write(student_copies.filled(student_copies.read(stub), student_copies.read(
            ROOT / "notebooks" / f"{chapter}.ipynb"), functions), solved)
        submissions += [(stub, 0), (solved, len(functions))]

    def score(submission: Path) -> tuple[float, float, str]:
        report = grading.grade(submission, autograders[grading.chapter_of(submission)].parent,
                               tmp_path / "grades" / submission.parent.name)
        tests = [test for test in report["tests"] if "max_score" in test]
        return (sum(t["score"] for t in tests), sum(t["max_score"] for t in tests),
                grading.summary(submission, report))

    with ThreadPoolExecutor(2) as pool:  # each run is one kernel: two at a time on two cores
        results = list(pool.map(score, [submission for submission, _ in submissions]))
    for (submission, expected), (got, total, text) in zip(submissions, results):
        assert total == len(by_chapter(grading.chapter_of(submission))), text
        assert got == expected, text
        if expected == 0:
            assert "not yet" in text, text
