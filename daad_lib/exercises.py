"""The book's checked exercises: what each asks for, and a check that cannot be fooled cheaply.

Each chapter has one coding exercise: the reader replaces a stub (``def my_divide(x, rates):
raise NotImplementedError``) and runs ``check("divide", my_divide)`` in the next cell. The
same function grades a student copy (``book/grading.py`` writes otter-grader tests that call
:func:`grade`). What the check does, and why:

* **Hidden cases.** The inputs are drawn inside the check, from a fresh seed on every call,
  with shapes and values the reader does not see (plus the edge cases each exercise names:
  ties, a constant set, a single value). A function fitted to a few visible cases fails.
* **The reference stays out of the reader's namespace.** The check imports the library's
  function itself (:attr:`Exercise.reference`); the notebook passes only the reader's function.
* **No borrowing.** The library's own function object (``my_divide = divide``) is refused, and
  so is any function that calls into ``daad_lib`` (a wrapper, ``functools.partial``, a model
  built to read its answer off) or into the other implementations an exercise names
  (``sklearn``'s AUROC, ``numpy.quantile``): while the reader's function runs, a profile hook
  (:func:`sys.setprofile`) watches every call it makes.
* **Clear verdicts.** :func:`verdict` returns one of ``"pass"``, ``"not yet"`` (the stub still
  raises NotImplementedError), ``"refused"`` (it borrows) or ``"wrong"`` (a case differs or
  raises), with a sentence for the reader.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

PACKAGE = str(Path(__file__).resolve().parent) + os.sep
NUM_CASES = 12


@dataclass(frozen=True)
class Exercise:
    """One checked exercise. ``reference`` and ``cases`` are functions so that the library's
    function is imported only inside the check."""

    name: str  # the first argument of check(): "divide"
    chapter: str  # notebooks/<chapter>.ipynb
    function: str  # the name the stub defines: "my_divide"
    label: str  # the sphinx-exercise label: "ex-divide"
    reference: Callable[[], Callable]
    cases: Callable[[torch.Generator], list[tuple]]
    allowed: tuple[str, ...] = ()  # daad_lib functions (qualified names) the reader may call
    refused: tuple[tuple[str, str], ...] = ()  # (module prefix, function name or "*") also refused
    refused_builtins: tuple[str, ...] = ()  # names of C functions refused (torch.quantile)
    atol: float = 1e-5
    what: str = field(default="daad_lib")  # what the reference is, for the messages


def _randint(generator: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _choice(generator: torch.Generator, options):
    return options[_randint(generator, 0, len(options) - 1)]


# --- the hidden cases of every exercise ------------------------------------------------------

def _recon_cases(g):
    cases = []
    for _ in range(NUM_CASES - 2):
        shape = (_randint(g, 1, 5), _choice(g, (1, 3)), _randint(g, 2, 9), _randint(g, 2, 9))
        cases.append((torch.randn(shape, generator=g), torch.randn(shape, generator=g)))
    x = torch.rand(3, 3, 5, 7, generator=g)
    cases += [(x, x.clone()), (x, torch.zeros_like(x))]
    return cases


def _divide_cases(g):
    cases = []
    for _ in range(NUM_CASES):
        rates = (_randint(g, 1, 4), _randint(g, 1, 4), _randint(g, 1, 3))
        block = (_randint(g, 1, 3), _randint(g, 1, 3), _randint(g, 1, 3))  # (C/r_c, H/r_h, W/r_w)
        shape = (_randint(g, 1, 3), rates[2] * block[0], rates[0] * block[1], rates[1] * block[2])
        cases.append((torch.randn(shape, generator=g), rates))
    return cases


def _address_cases(g):
    cases = []
    for _ in range(NUM_CASES):
        queries = torch.randn(_randint(g, 1, 3), _randint(g, 1, 6), _randint(g, 2, 16), generator=g)
        items = torch.randn(_randint(g, 2, 30), queries.shape[-1], generator=g)
        cases.append((queries, items, _choice(g, (1.0, 0.5, 0.2, 0.1))))
    return cases


def _geometry_cases(g):
    cases = [(256, (8, 8, 1))]
    while len(cases) < 6:
        size = _choice(g, (32, 64, 128))
        bottleneck = size // 16
        r_h = _choice(g, [r for r in (1, 2, 4, 8) if bottleneck % r == 0])
        r_w = _choice(g, [r for r in (1, 2, 4, 8) if bottleneck % r == 0])
        cases.append((size, (r_h, r_w, _choice(g, (1, 2, 4)))))
    return cases


def _fuse_cases(g):
    cases = []
    for _ in range(NUM_CASES - 2):
        n = _randint(g, 2, 30)
        recon = torch.rand(n, generator=g) * _choice(g, (1.0, 0.01, 50.0)) + _choice(g, (0.0, 3.0))
        align = torch.rand(n, generator=g) * _choice(g, (1.0, 5.0, 0.1))
        cases.append((recon, align, _choice(g, (0.9, 0.5, 0.3, 0.0, 1.0, 0.75))))
    cases.append((torch.ones(5), torch.rand(5, generator=g), 0.5))  # a constant set scales to zeros
    cases.append((torch.rand(6, generator=g), torch.full((6,), 2.0), 0.8))
    return cases


def _mean_std_cases(g):
    cases = [(torch.rand(_randint(g, 2, 8), generator=g) * 0.5 + 0.5,) for _ in range(NUM_CASES - 2)]
    return cases + [(torch.tensor([0.7]),), (torch.tensor([0.8, 0.8, 0.8]),)]


def _auroc_cases(g):
    cases = []
    for _ in range(NUM_CASES - 2):
        n = _randint(g, 4, 40)
        labels = torch.zeros(n, dtype=torch.long)
        labels[torch.randperm(n, generator=g)[:_randint(g, 1, n - 1)]] = 1  # both classes present
        scores = torch.rand(n, generator=g)
        if _randint(g, 0, 1):
            scores = (scores * 4).round() / 4  # ties between normal and anomalous scores
        cases.append((scores, labels.bool() if _randint(g, 0, 1) else labels))
    cases.append((torch.tensor([1.0, 1.0, 2.0, 1.0]), torch.tensor([0, 1, 1, 0])))
    cases.append((torch.tensor([0.9, 0.1, 0.2]), torch.tensor([0, 1, 1])))  # an AUROC of 0
    return cases


def _threshold_cases(g):
    cases = []
    for _ in range(NUM_CASES - 2):
        scores = torch.rand(_randint(g, 2, 120), generator=g) * _choice(g, (1.0, 0.01, 10.0))
        cases.append((scores, _choice(g, (0.01, 0.05, 0.1, 0.25, 0.5, 0.37))))
    return cases + [(torch.tensor([0.3]), 0.05), (torch.tensor([3.0, 1.0, 2.0, 4.0]), 0.25)]


# --- the references (imported inside the check, never in the notebook) ------------------------

def _recon_reference():
    from .scoring import reconstruction_score
    return reconstruction_score


def _divide_reference():
    from .memory import divide
    return divide


def _address_reference():
    from .memory import address
    return address


def _geometry_reference():
    from .models import build_model

    def library_geometry(image_size, rates):
        memories = build_model("daad", image_size=image_size, rates=rates).generator.memories.values()
        return torch.tensor([[m.num_blocks, m.block_dim] for m in memories])
    return library_geometry


def _fuse_reference():
    from .scoring import fuse
    return fuse


def _mean_std_reference():
    import statistics

    def mean_std(values):  # what the results files store (statistics.fmean / stdev)
        values = [float(v) for v in values]
        return torch.tensor([statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0])
    return mean_std


def _auroc_reference():
    from .metrics import image_auroc
    return image_auroc


def _threshold_reference():
    import numpy as np

    def threshold(normal_scores, alpha):
        return float(np.quantile(normal_scores.numpy(), 1 - alpha))
    return threshold


EXERCISES = {exercise.name: exercise for exercise in [
    Exercise("R(x)", "01_reconstruction", "my_reconstruction_score", "ex-recon-score",
             _recon_reference, _recon_cases),
    Exercise("divide", "02_toy_stripes", "my_divide", "ex-divide", _divide_reference, _divide_cases),
    Exercise("address", "03_block_memory", "my_address", "ex-address", _address_reference, _address_cases),
    Exercise("geometry", "04_daad", "my_geometry", "ex-geometry", _geometry_reference, _geometry_cases,
             allowed=("daad_lib.config.default_widths",)),
    Exercise("Eq. 7", "05_daad_plus", "my_fuse", "ex-fuse", _fuse_reference, _fuse_cases),
    Exercise("mean ± std", "06_results", "my_mean_std", "ex-mean-std", _mean_std_reference, _mean_std_cases,
             refused=(("statistics", "*"),), what="statistics.fmean and stdev, as the results files"),
    Exercise("image AUROC", "07_evaluating", "my_auroc", "ex-auroc-pairs", _auroc_reference, _auroc_cases,
             refused=(("sklearn", "*"),)),
    Exercise("threshold", "08_own_data", "my_threshold", "ex-quantile-threshold", _threshold_reference,
             _threshold_cases, refused=(("numpy", "quantile"), ("numpy", "percentile"),
                                        ("numpy", "nanquantile"), ("numpy", "nanpercentile")),
             refused_builtins=("quantile", "nanquantile", "percentile", "nanpercentile"),
             what="numpy.quantile"),
]}


def by_chapter(chapter: str) -> list[Exercise]:
    """The checked exercises of ``notebooks/<chapter>.ipynb``."""
    return [exercise for exercise in EXERCISES.values() if exercise.chapter == chapter]


# --- watching what the reader's function calls ------------------------------------------------

class Borrowed(Exception):
    """The reader's function called something the exercise asks them to write themselves."""


def _qualified(frame) -> str:
    return f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"


def _in_package(code) -> bool:
    return code.co_filename.startswith(PACKAGE)


def watched_call(exercise: Exercise, function: Callable, args: tuple):
    """``function(*args)`` under a profile hook that raises :class:`Borrowed` (after the call)
    if it called a ``daad_lib`` function outside ``exercise.allowed`` (calls made *inside* an
    allowed one are its business) or one of ``exercise.refused`` / ``refused_builtins``."""
    seen: list[str] = []
    own_code = sys._getframe().f_code  # a call made from here is the reader's own call

    def hook(frame, event, arg):
        if seen:
            return
        if event == "call":
            code = frame.f_code
            if _in_package(code):
                caller = frame.f_back
                if caller is not None and _in_package(caller.f_code) and caller.f_code is not own_code:
                    return  # inside a daad_lib function that was itself allowed
                if _qualified(frame) not in exercise.allowed:
                    seen.append(_qualified(frame))
                return
            module = frame.f_globals.get("__name__", "")
            for prefix, name in exercise.refused:
                if (module == prefix or module.startswith(prefix + ".")) and name in ("*", code.co_name):
                    seen.append(f"{prefix}.{name}" if name != "*" else f"{prefix} ({_qualified(frame)})")
        elif event == "c_call" and getattr(arg, "__name__", None) in exercise.refused_builtins:
            seen.append(f"{getattr(arg, '__module__', None) or 'torch'}.{arg.__name__}")

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        result = function(*args)
    finally:
        sys.setprofile(previous)
    if seen:
        raise Borrowed(seen[0])
    return result


# --- the verdict ------------------------------------------------------------------------------

def _clone(case: tuple) -> tuple:
    return tuple(value.clone() if isinstance(value, torch.Tensor) else value for value in case)


def _describe_case(case: tuple) -> str:
    def one(value):
        if isinstance(value, torch.Tensor):
            return f"a {value.dtype} tensor of shape {tuple(value.shape)}" if value.numel() > 4 else \
                f"tensor({value.tolist()})"
        return repr(value)
    return ", ".join(one(value) for value in case)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}" if not isinstance(value, (int, float)) else f"the number {value!r}"


def _same_function(candidate, reference) -> bool:
    if candidate is reference:
        return True
    code = getattr(candidate, "__code__", None)
    return code is not None and code is getattr(reference, "__code__", None)


def verdict(name: str, candidate) -> tuple[str, str]:
    """(status, message) for the reader's ``candidate`` on exercise ``name``: status is one of
    ``"pass"``, ``"not yet"``, ``"refused"``, ``"wrong"``."""
    exercise = EXERCISES[name]
    reference = exercise.reference()
    if not callable(candidate):
        return "wrong", f"{name}: {exercise.function} should be a function, got {_describe(candidate)}"
    if _same_function(candidate, reference):
        return "refused", (f"{name}: refused: {exercise.function} is the library's own function; "
                           f"the exercise is to write it yourself")
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(4), "little"))
    cases = exercise.cases(generator)
    for number, case in enumerate(cases, start=1):
        expected = reference(*_clone(case))
        try:
            got = watched_call(exercise, candidate, _clone(case))
        except NotImplementedError:
            return "not yet", (f"{name}: not yet: {exercise.function} still raises NotImplementedError "
                               f"(write it in the cell above, run that cell, then this one)")
        except Borrowed as borrowed:
            return "refused", (f"{name}: refused: {exercise.function} calls {borrowed}; the exercise "
                               f"is to write it yourself (with torch operations)")
        except Exception as error:  # the reader's code: report, do not crash the notebook
            return "wrong", (f"{name}: hidden case {number} of {len(cases)} ({_describe_case(case)}) "
                             f"raised {type(error).__name__}: {error}")
        try:
            got_t = torch.as_tensor(got, dtype=torch.float64)
        except Exception:
            return "wrong", f"{name}: hidden case {number} returned {_describe(got)}, not a number or tensor"
        expected_t = torch.as_tensor(expected, dtype=torch.float64)
        if got_t.shape != expected_t.shape:
            return "wrong", (f"{name}: hidden case {number} of {len(cases)} ({_describe_case(case)}) "
                             f"returned {_describe(got)}, expected shape {tuple(expected_t.shape)}")
        if not torch.allclose(got_t, expected_t, atol=exercise.atol, rtol=1e-4, equal_nan=True):
            worst = (got_t - expected_t).abs().nan_to_num(float("inf")).max().item()
            return "wrong", (f"{name}: hidden case {number} of {len(cases)} ({_describe_case(case)}) has "
                             f"the right shape but wrong values (largest difference {worst:.3g})")
    return "pass", f"{name}: pass ({len(cases)} hidden cases agree with {exercise.what})"


def check(name: str, candidate, strict: bool = False) -> bool:
    """The check cell of an exercise: prints the verdict and returns whether it passed.

    With ``strict`` (the cells that run the reference solutions in CI) anything but a pass raises.
    """
    status, message = verdict(name, candidate)
    if strict and status != "pass":
        raise AssertionError(message)
    print(message)
    return status == "pass"


def grade(name: str, env: dict) -> None:
    """For otter-grader's tests (``book/grading.py``): raise AssertionError unless the
    function the student's notebook defined for exercise ``name`` passes."""
    exercise = EXERCISES[name]
    if exercise.function not in env:
        raise AssertionError(f"{name}: the notebook defines no {exercise.function}")
    status, message = verdict(name, env[exercise.function])
    assert status == "pass", message
