"""Atomic file writes and content hashes: nothing written earlier is lost or half-overwritten."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convbench.errors import OutputError

_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                           errno.EEXIST, errno.ENOTDIR})
_BODY_ERRNOS = _WRITE_ERRNOS - {errno.EEXIST, errno.ENOTDIR}  # in the writer's body these need not be about path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it.

    Works for files and directories alike (whatever the body writes at the yielded path).

    Raises:
        OutputError: the disk is full or read-only, permission is denied, or a parent is a file: naming ``path``.
    """
    final = Path(path)
    with _naming(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the body creates it (as a file or a directory)
    try:
        with _naming(final, _BODY_ERRNOS):
            yield tmp
            if final.is_dir() and tmp.is_dir():
                shutil.rmtree(final)
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def naming_writes(path: str | os.PathLike[str]) -> Iterator[None]:
    """Around a library's own write of ``path`` (``model.save``, ``Image.save``, ``np.save``, a log line): a full or
    read-only disk or a denied permission becomes an :class:`OutputError` naming ``path``.

    The library's OSError names no file (``[Errno 28] No space left on device``) or a temporary one; every write
    convbench makes names the file it could not write, as :func:`atomic_path` does.
    """
    with _naming(Path(path), _BODY_ERRNOS):
        yield


@contextlib.contextmanager
def _naming(path: Path, errnos: frozenset[int] = _WRITE_ERRNOS) -> Iterator[None]:
    """Turn a failed write (disk full, read-only, permission, a parent that is a file) into an error naming ``path``.

    Such an OSError often names no file (``[Errno 28] No space left on device``) or a temporary one.
    """
    try:
        yield
    except OSError as e:
        if e.errno not in errnos:
            raise
        reason = "a folder on its path is a file" if e.errno in (errno.EEXIST, errno.ENOTDIR) else e.strerror
        raise OutputError(f"cannot write {path}: {reason}") from e


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (numpy scalars and paths allowed)."""
    return write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
