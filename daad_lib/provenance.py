"""Where a number came from: command, git commit, hardware, versions, time.

Every results file the project writes embeds :func:`run_info`, so every number
in the README and the book can be traced to the run that made it.
"""
from __future__ import annotations

import datetime
import os
import warnings
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch


_PINNED_COMMIT: str | None = None  # pin_commit(): the tree as the command started


def pin_commit() -> str:
    """Record the commit now, at a command's start, and answer every later :func:`git_commit` of
    this process with it: the code that ran is the code at the start, and the files the command
    itself writes (a table's figure before its JSON) must not mark its own record ``+dirty``."""
    global _PINNED_COMMIT
    _PINNED_COMMIT = None
    _PINNED_COMMIT = git_commit()
    return _PINNED_COMMIT


def git_commit() -> str:
    """The current commit of this repository (``+dirty`` when files changed), else
    ``$DAAD_GIT_COMMIT`` (set it for a copy of the tree without its .git, such as the GPU
    machine's), else "unknown". After :func:`pin_commit`, the pinned value."""
    if _PINNED_COMMIT is not None:
        return _PINNED_COMMIT
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("DAAD_GIT_COMMIT", "unknown")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    info = {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def readable_command(argv: list[str]) -> str:
    """``daad train ...`` or ``python -m experiments.table3 ...`` rather than absolute paths."""
    program = Path(argv[0])
    repo = Path(__file__).resolve().parents[1]
    if program.suffix == ".py" and program.resolve().is_relative_to(repo):
        module = program.resolve().relative_to(repo).with_suffix("")
        head = ["python", "-m", ".".join(module.parts)] if (repo / module.parts[0] / "__init__.py").exists() \
            else ["python", str(module.with_suffix(".py"))]
    else:
        head = [program.name]
    return shlex.join(head + list(argv[1:]))


def run_info(command: list[str] | None = None) -> dict:
    """A dict to embed in every results file."""
    return {
        "command": readable_command(command if command is not None else sys.argv),
        "git_commit": git_commit(),
        "hardware": hardware(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


NOT_RERUNNABLE = ("-c", "", "-")  # sys.argv[0] of ``python -c``, an interactive session, stdin


class UnrepeatableCommand(RuntimeError):
    """A results file would name a command that nobody can rerun."""


def check_rerunnable(argv: list[str] | None = None) -> None:
    """Refuse a process whose command cannot be rerun from its record (``python -c ...``, a
    notebook or an interactive session: ``sys.argv`` keeps no code), before any work is done."""
    argv = sys.argv if argv is None else argv
    if not argv or argv[0] in NOT_RERUNNABLE:
        raise UnrepeatableCommand(
            "this writes a committed results file, whose record must name a command anyone can rerun; "
            f"sys.argv is {argv!r} (python -c or an interactive session): run the script as "
            "`python -m experiments.<name> ...` instead")


def results_info(argv: list[str] | None = None) -> dict:
    """:func:`run_info` for a committed results file: refuses a command nobody can rerun
    (:func:`check_rerunnable`) and warns when the tree has uncommitted changes (the commit then
    reads ``+dirty``: commit first, then run, so the record names a clean commit)."""
    check_rerunnable(argv)
    info = run_info(argv)
    if info["git_commit"].endswith("+dirty"):
        warnings.warn(f"results written from a tree with uncommitted changes ({info['git_commit']}): "
                      "commit the code first, then rerun, so that the record names a clean commit", stacklevel=2)
    return info
