"""Read a dataset's files as distributed: a directory, a .zip, a .tar(.gz) or one plain file, all alike.

A :class:`Source` lists the files it holds by their path inside it (``a/b/c.png``, POSIX separators)
and reads any of them as bytes. A directory is read together with the archives lying directly in it
(so ``gtsrb/`` holding the three official zips reads as one tree); files on disk win over archive
members of the same name. Symbolic links to folders are followed (a class folder may be a link), each
real folder read once, so a link cycle ends. Zip member names are decoded as the zip specification
says: UTF-8 when flagged, else the Info-ZIP Unicode Path extra field when present, else cp437, except
that a name written on Unix (where Info-ZIP's ``zip`` stores the locale's UTF-8 bytes without flag or
extra field) is read as UTF-8 when it is valid UTF-8. Every zip member's local header is checked
against the central directory on opening, so a damaged name fails instead of dropping a file unseen, and the
member count against the end record, so a damaged directory size fails instead of listing a part of the archive.
Loaders find their files by name pattern, so a top folder (``fruits-360/``, ``cifar-10-batches-py/``)
may be present or not.
"""

from __future__ import annotations

import lzma
import os
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from convbench.errors import DataError

# What a damaged archive raises on opening or reading: a bad header, checksum or stream, a flag byte turned into
# "encrypted" (RuntimeError) or an unknown compression method (NotImplementedError), a name that is not UTF-8.
_ARCHIVE_ERRORS = (OSError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, ValueError, RuntimeError,
                   NotImplementedError, struct.error)

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ZIP_SUFFIXES + TAR_SUFFIXES)


class Source:
    """The files of a dataset path, by their path inside it.

    Example:
        >>> with Source("mnist.zip") as src:
        ...     data = src.read(src.find(r"train-images")[0])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._readers: dict[str, Callable[[], bytes]] = {}  # member name -> reads its bytes
        self._where: dict[str, str] = {}  # member name -> how to name it in an error message
        self.dirs: set[str] = set()  # every folder (explicit or implied), e.g. "Training/Apple"
        self._closers: list[Callable[[], None]] = []
        if not self.path.exists():
            raise DataError(f"data path not found: {self.path}")
        if self.path.is_dir():
            self._add_directory(self.path)
        elif is_archive(self.path):
            self._add_archive(self.path)
        else:
            self._add(self.path.name, self.path.read_bytes, str(self.path))

    # -- reading ----------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Every file's path inside the source, sorted."""
        return sorted(self._readers)

    def read(self, name: str) -> bytes:
        """The bytes of file ``name`` (DataError naming it when it is missing or unreadable)."""
        reader = self._readers.get(name)
        if reader is None:
            raise DataError(f"{self.where(name)} not found")
        try:
            return reader()
        except _ARCHIVE_ERRORS as e:  # e.g. a damaged zip member
            raise DataError(f"cannot read {self.where(name)}: {type(e).__name__}: {e}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._readers

    def where(self, name: str) -> str:
        """How to name file ``name`` to a user: its path on disk, or ``member (in archive)``."""
        return self._where.get(name) or f"{name} (in {self.path})"

    def find(self, basename_pattern: str) -> list[str]:
        """Files whose last path component fully matches the regular expression, sorted."""
        rx = re.compile(basename_pattern, re.IGNORECASE)
        return [n for n in self.names if rx.fullmatch(n.rpartition("/")[2])]

    # -- building ---------------------------------------------------------------------------------
    def _add(self, name: str, reader: Callable[[], bytes], where: str) -> None:
        if name in self._readers:  # a file on disk wins over an archive member of the same name
            return
        self._readers[name] = reader
        self._where[name] = where
        folder = name.rpartition("/")[0]
        while folder and folder not in self.dirs:  # string ops: PurePosixPath.parents is slow for 10^5 files
            self.dirs.add(folder)
            folder = folder.rpartition("/")[0]

    def _add_directory(self, root: Path) -> None:
        archives = []
        seen = {os.path.realpath(root)}  # real folders already listed: a link back up (a cycle) is not re-read
        for folder, subdirs, files in os.walk(root, followlinks=True):
            subdirs[:] = [d for d in sorted(subdirs) if not _is_junk(d) and _first_visit(Path(folder) / d, seen)]
            rel = Path(folder).relative_to(root)
            if rel != Path("."):
                self.dirs.add(rel.as_posix())
            for file in sorted(files):
                full = Path(folder) / file
                if _is_junk(file):
                    continue
                if rel == Path(".") and is_archive(full):
                    archives.append(full)
                    continue
                self._add((rel / file).as_posix(), full.read_bytes, str(full))
        for archive in archives:
            self._add_archive(archive)

    def _add_archive(self, path: Path) -> None:
        if path.name.lower().endswith(ZIP_SUFFIXES):
            self._add_zip(path)
        else:
            self._add_tar(path)

    def _add_zip(self, path: Path) -> None:
        try:
            zf = zipfile.ZipFile(path)
        except _ARCHIVE_ERRORS as e:
            raise DataError(f"cannot open {path}: expected a readable .zip archive ({e})") from None
        self._closers.append(zf.close)
        _check_member_count(zf, path)
        for info in zf.infolist():
            name = zip_member_name(info).rstrip("/")
            try:  # the local header must agree with the central directory: a damaged name would drop a file unseen
                with zf.open(info):
                    pass
            except _ARCHIVE_ERRORS as e:
                raise DataError(f"cannot read {name} (in {path}): {type(e).__name__}: {e}") from None
            if info.is_dir():
                if not _is_junk(name):
                    self.dirs.add(name)
            elif not _is_junk(name):
                # ZipFile reads are thread-safe (a lock guards the shared file), so decoding threads may share it
                self._add(name, _zip_reader(zf, info), f"{name} (in {path})")

    def _add_tar(self, path: Path) -> None:
        # A compressed tar has no random access: read every member once, in order, into memory.
        try:
            with tarfile.open(path, "r:*") as tf:
                for member in tf:
                    name = member.name.removeprefix("./").rstrip("/")
                    if member.isdir():
                        if not _is_junk(name):
                            self.dirs.add(name)
                    elif member.isfile() and not _is_junk(name):
                        data = tf.extractfile(member).read()  # type: ignore[union-attr]
                        self._add(name, _const(data), f"{name} (in {path})")
        except (tarfile.TarError, *_ARCHIVE_ERRORS) as e:
            raise DataError(f"cannot read {path}: expected a readable .tar/.tar.gz archive ({e})") from None

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_member_count(zf: zipfile.ZipFile, path: Path) -> None:
    """The central directory must list as many members as its end record counts.

    ``zipfile`` reads the central directory for the byte size the end record states, so a damaged size lists fewer
    members without a word, and a dataset would load a part of itself. ``_EndRecData`` is private but has kept its
    form since Python 2; it reads the same record ``ZipFile`` itself read (the ZIP64 one where present).
    """
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)
    expected = end[zipfile._ECD_ENTRIES_TOTAL] if end else None
    if expected is not None and expected != len(zf.infolist()):
        raise DataError(f"cannot read {path}: its central directory lists {len(zf.infolist())} members where its end "
                        f"record counts {expected} (a damaged .zip)")


def _first_visit(folder: Path, seen: set[str]) -> bool:
    real = os.path.realpath(folder)
    if real in seen:
        return False
    seen.add(real)
    return True


_UNIX = 3  # ZipInfo.create_system of a zip made on Unix
_UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP Unicode Path extra field: version 1, CRC-32 of the header name, UTF-8 name


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its zip means it (see the module docstring): Python reads a name without the UTF-8 flag
    as cp437 only, which garbles the UTF-8 names Info-ZIP's ``zip`` writes on Unix."""
    if info.flag_bits & 0x800:
        return info.filename
    raw = info.orig_filename.encode("cp437")  # the header's bytes, as Python decoded them
    extra, offset = info.extra, 0
    while offset + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4:offset + 4 + size]
        offset += 4 + size
        if kind != _UNICODE_PATH_EXTRA or len(body) < 5 or body[0] != 1:
            continue
        try:
            if struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
                return body[5:].decode("utf-8")
        except (UnicodeError, struct.error):
            pass
    if info.create_system == _UNIX:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return info.filename


def _zip_reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    return lambda: zf.read(info)


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _is_junk(name: str) -> bool:
    """Hidden files and folders (``.DS_Store``, ``.git``) and the ``__MACOSX`` forks that Mac-made zips carry."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))
