"""The checked exercises (daad_lib.exercises) and the chapters' exercise cells: a stub is "not
yet", the library's function or a wrapper of it is refused, a wrong function fails, and the
reference solution written in the chapter's solution cell passes, on cases the check draws
itself. No training; the notebooks are read as JSON."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from daad_lib import exercises
from daad_lib.config import default_widths
from daad_lib.exercises import EXERCISES, check, grade, verdict

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(EXERCISES)


def cells(chapter: str) -> list[dict]:
    notebook = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())
    return [{**cell, "source": "".join(cell["source"])} for cell in notebook["cells"]]


def tagged(chapter: str, tag: str) -> list[dict]:
    return [cell for cell in cells(chapter) if tag in cell.get("metadata", {}).get("tags", [])]


def defined(code: str, function: str):
    """``function`` as the chapter's cell ``code`` defines it (with the chapter's imports it uses)."""
    namespace = {"torch": torch, "default_widths": default_widths}
    exec(compile(code, f"<{function}>", "exec"), namespace)
    return namespace[function]


def solution(name: str):
    exercise = EXERCISES[name]
    code = [cell["source"] for cell in tagged(exercise.chapter, "solution")
            if cell["cell_type"] == "code" and f"def {exercise.function}(" in cell["source"]]
    assert len(code) == 1, f"{exercise.chapter}: one solution cell should define {exercise.function}"
    return defined(code[0], exercise.function)


@pytest.mark.parametrize("name", NAMES)
def test_the_chapters_stub_is_not_yet(name):
    exercise = EXERCISES[name]
    stubs = [cell["source"] for cell in tagged(exercise.chapter, "exercise")]
    assert len(stubs) == 1 and f"def {exercise.function}(" in stubs[0]
    assert verdict(name, defined(stubs[0], exercise.function))[0] == "not yet"


@pytest.mark.parametrize("name", NAMES)
def test_the_chapters_solution_passes(name):
    status, message = verdict(name, solution(name))
    assert status == "pass", message


@pytest.mark.parametrize("name", NAMES)
def test_the_library_function_or_a_wrapper_of_it_is_refused(name):
    reference = EXERCISES[name].reference()
    assert verdict(name, reference)[0] == "refused"
    assert verdict(name, lambda *args: reference(*args))[0] == "refused"
    assert verdict(name, functools.partial(reference))[0] == "refused"


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_function_fails(name):
    right = solution(name)

    def off_by_one(*args):
        return torch.as_tensor(right(*args), dtype=torch.float64) + 1

    def wrong_shape(*args):
        return torch.as_tensor(right(*args), dtype=torch.float64).reshape(-1)[:1].repeat(3)

    assert verdict(name, off_by_one)[0] == "wrong"
    assert verdict(name, wrong_shape)[0] == "wrong"
    assert verdict(name, lambda *args: 1 / 0)[0] == "wrong"


def test_the_check_cells_pass_only_the_readers_function():
    """The reference stays inside the check: a check cell names the exercise and the reader's
    function, and no stub cell defines a reference beside the stub (chapters 4, 6 and 8 did)."""
    for exercise in EXERCISES.values():
        assert [cell["source"] for cell in tagged(exercise.chapter, "check")] == \
            [f'check("{exercise.name}", {exercise.function})']
        (stub,) = [cell["source"] for cell in tagged(exercise.chapter, "exercise")]
        assert stub.count("def ") == 1 and "reference" not in stub and "library_" not in stub


def test_solution_blocks_are_tagged_whole():
    """Every cell from :::{solution-start} to :::{solution-end} carries the tag, so the
    student copy drops the reference solution and its strict check together."""
    for exercise in EXERCISES.values():
        chapter = cells(exercise.chapter)
        start = next(i for i, c in enumerate(chapter) if f"solution-start}} {exercise.label}" in c["source"])
        end = next(i for i in range(start, len(chapter)) if "solution-end" in chapter[i]["source"])
        assert all("solution" in c.get("metadata", {}).get("tags", []) for c in chapter[start:end + 1])
        assert not any("solution" in c.get("metadata", {}).get("tags", []) for c in chapter[:start] + chapter[end + 1:])


def test_hidden_cases_change_from_one_check_to_the_next():
    seen = []

    def recording(x, rates):
        seen.append((tuple(x.shape), rates))
        raise ValueError("only looking")

    for _ in range(3):
        verdict("divide", recording)
    assert len(set(seen)) > 1


def test_allowed_library_calls_and_refused_ones():
    from daad_lib import build_model

    right = solution("geometry")
    assert verdict("geometry", lambda size, rates: right(size, rates))[0] == "pass"  # default_widths is allowed

    def read_off_a_model(size, rates):
        memories = build_model("daad", image_size=size, rates=rates).generator.memories.values()
        return torch.tensor([[m.num_blocks, m.block_dim] for m in memories])
    assert verdict("geometry", read_off_a_model)[0] == "refused"

    def with_quantile(scores, alpha):
        return float(torch.quantile(scores, 1 - alpha))
    status, message = verdict("threshold", with_quantile)
    assert status == "refused" and "quantile" in message


def test_check_prints_strict_raises_and_grade_reads_the_notebook_namespace(capsys):
    def stub(x, rates):
        raise NotImplementedError

    assert not check("divide", stub)
    assert "divide: not yet" in capsys.readouterr().out
    assert check("divide", solution("divide"))
    assert "divide: pass" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="not yet"):
        check("divide", stub, strict=True)
    grade("divide", {"my_divide": solution("divide")})
    with pytest.raises(AssertionError, match="defines no my_divide"):
        grade("divide", {})
    with pytest.raises(AssertionError, match="refused"):
        grade("divide", {"my_divide": exercises.EXERCISES["divide"].reference()})


def test_the_profile_hook_is_restored():
    import sys

    before = sys.getprofile()
    verdict("divide", solution("divide"))
    verdict("divide", lambda x, r: 1 / 0)
    assert sys.getprofile() is before
