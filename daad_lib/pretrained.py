"""Checkpoints from a path or a URL: hand a trained model to a class without retraining it.

:func:`fetch` returns a local checkpoint file for a path, or for an ``https://`` / ``file://``
URL, which it downloads once into a cache folder (``$DAAD_CACHE`` or ``~/.cache/daad-book``) with
torch's own downloader. Given ``sha256``, the file must have that digest or it is refused with a
:class:`DigestError` (and a cached copy that does not match is fetched again).
:meth:`daad_lib.models.Detector.load` calls it, so
``Detector.load("https://example.org/bottle_daad.pt", sha256="...")`` works like a path, and the
loading itself stays weights-only.

>>> import hashlib, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.pt"; _ = path.write_bytes(b"weights")
>>> fetch(str(path), sha256=hashlib.sha256(b"weights").hexdigest()) == path
True
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from torch.hub import download_url_to_file

from .checkpoint import CheckpointError

URL_SCHEMES = ("https", "http", "file")


def cache_dir() -> Path:
    return Path(os.environ.get("DAAD_CACHE", Path.home() / ".cache" / "daad-book")).expanduser()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DigestError(CheckpointError):
    """A file whose sha256 is not the one it was given with."""


def check_digest(path: Path, sha256: str | None, source: str) -> None:
    if sha256 is None:
        return
    actual = sha256_of(path)
    if actual != sha256.lower():
        raise DigestError(f"{source} has sha256 {actual}, not the {sha256} it was given with: "
                          f"a different or damaged file, refused")


def fetch(source: str | Path, sha256: str | None = None, cache: str | Path | None = None) -> Path:
    """A local file for ``source`` (a path, or an https/http/file URL downloaded into ``cache``)."""
    scheme = urlparse(str(source)).scheme
    if scheme not in URL_SCHEMES:  # a plain path (also Windows' C:\\... whose "scheme" is one letter)
        path = Path(source).expanduser()
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        check_digest(path, sha256, str(path))
        return path
    folder = Path(cache).expanduser() if cache else cache_dir()
    name = Path(urlparse(str(source)).path).name or "checkpoint.pt"
    target = folder / (f"{sha256[:12]}-{name}" if sha256 else name)
    if target.is_file():
        try:
            check_digest(target, sha256, str(target))
            return target
        except CheckpointError:
            target.unlink()  # a stale or damaged copy: fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=f"{name}.", suffix=".part")
    os.close(fd)
    try:
        download_url_to_file(str(source), partial, progress=False)
        check_digest(Path(partial), sha256, str(source))
        os.replace(partial, target)
    except CheckpointError:
        raise
    except Exception as error:  # network, 404, a file:// URL to nothing, ...
        raise CheckpointError(f"could not download {source}: {error}") from None
    finally:
        Path(partial).unlink(missing_ok=True)
    return target
