"""A run folder has one writer, and nothing in it is lost or replaced without being asked.

* :func:`claim` locks the folder for one process (an OS file lock on ``OUT/.lock``, released
  when the process ends, even by ``kill -9``); a second writer is refused with a message that
  names the first. Claims nest within one process (the CLI claims, then :func:`train` does).
* :func:`prepare` refuses to start a new run in a folder that holds one, unless it is resumed
  or explicitly overwritten (which removes the old run's files first, and only those).
* :func:`atomic_write` writes a file under a unique temporary name, flushes it to disk and
  renames it over the target: a crash leaves the old file or the new one, never half of one.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with claim(out):
...     prepare(out, resume=False, overwrite=False)
...     _ = atomic_write_text(out / "train.json", "{}")
>>> sorted(p.name for p in out.iterdir())
['.lock', 'train.json']
"""
from __future__ import annotations

import datetime
import os
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

LOCK_NAME = ".lock"
TRAINING_FILES = ("checkpoint", "log.jsonl", "train.json")  # what the lock holder writes (eval.json is daad eval's)
# The files a run writes (train.py, cli.py): the only ones --overwrite removes.
RUN_FILES = ("checkpoint.pt", "checkpoint_epoch*.pt", "log.jsonl", "train.json", "eval.json",
             "decision.json", "*.tmp", "tensorboard")

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class RunFolderError(ValueError):
    """A run folder that another process is writing, or that already holds a run."""


_held: dict[Path, list] = {}  # folder -> [lock file descriptor, nesting depth], this process


def _holder() -> str:
    command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]) if sys.argv else "python"
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {command}"


@contextmanager
def claim(out: str | Path) -> Iterator[Path]:
    """Hold the write lock of run folder ``out`` (created if missing) for the ``with`` block."""
    out = Path(out).expanduser().resolve()
    if out in _held:
        _held[out][1] += 1
        try:
            yield out
        finally:
            _held[out][1] -= 1
        return
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        holder = Path(out / LOCK_NAME).read_text().strip() or "another process"
        os.close(fd)
        raise RunFolderError(f"{out} is being written by another run ({holder}); wait for it to "
                             f"finish, or give this run another --out")
    os.ftruncate(fd, 0)
    os.write(fd, (_holder() + "\n").encode())
    _held[out] = [fd, 1]
    try:
        yield out
    finally:
        del _held[out]
        os.ftruncate(fd, 0)
        _unlock(fd)
        os.close(fd)


def run_files(out: Path) -> list[Path]:
    """The files and folders of a run in ``out`` (see RUN_FILES)."""
    return sorted({path for pattern in RUN_FILES for path in out.glob(pattern)})


def prepare(out: str | Path, resume: bool, overwrite: bool, clear: bool = True) -> None:
    """Make ``out`` ready for a run: a new run needs an empty folder (or ``overwrite``, which
    removes the old run's files); ``resume`` needs the run's checkpoint. With ``clear=False``
    only the checks run: :func:`daad_lib.run.train_run` checks first, then the data, and removes
    the old run only once the new one's data has been read (a typo in a data folder must not
    cost the old run)."""
    out = Path(out)
    if resume and overwrite:
        raise RunFolderError("--resume continues the run in the folder, --overwrite replaces it: give one")
    present = sorted(path for path in out.iterdir() if path.name != LOCK_NAME) if out.is_dir() else []
    if resume:
        if not (out / "checkpoint.pt").is_file():
            raise RunFolderError(f"cannot resume: no checkpoint at {out / 'checkpoint.pt'}")
        for partial in out.glob("*.tmp"):  # a training writer's, killed mid-save (we hold the lock: none is live;
            if partial.name.startswith(TRAINING_FILES):  # `daad eval` writes without the lock, so its are left)
                partial.unlink()
        return
    if not present:
        return
    names = ", ".join(path.name for path in present[:5]) + (" ..." if len(present) > 5 else "")
    if not overwrite:
        raise RunFolderError(f"{out} already holds files ({names}): pass --resume to continue its "
                             f"run, --overwrite to replace it, or give another --out")
    foreign = sorted(set(present) - set(run_files(out)))
    if foreign:
        raise RunFolderError(f"--overwrite removes only a run's own files, and {out} also holds "
                             f"{', '.join(path.name for path in foreign)}: give another --out")
    if not clear:
        return
    for path in run_files(out):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, flush that file to disk, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX; not possible on Windows)
        directory = os.open(path.parent, os.O_RDONLY)
        os.fsync(directory)
        os.close(directory)
    except OSError:
        pass
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
