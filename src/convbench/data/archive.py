"""Read a dataset's files as distributed: a directory, a .zip, a .tar(.gz) or one plain file, all alike.

A :class:`Source` lists the files it holds by their path inside it (``a/b/c.png``, POSIX separators)
and reads any of them as bytes. A directory is read together with the archives lying directly in it
(so ``gtsrb/`` holding the three official zips reads as one tree); files on disk win over archive
members of the same name. A dataset never reads outside its own folder: every symbolic link in it is resolved
and checked against the dataset's (resolved) root. A link pointing outside the root, or to the folder holding it or
one of its ancestors (a loop), is refused with one line naming the link. A link to a file or folder inside the root
is followed once: a link to a folder is listed under the link's own name (a class folder may be a link to a folder
elsewhere in the dataset, and is read as its own class); a folder link met a second time (reached again through
another link) is refused rather than listed twice. Where two class folders would read the same files (a class folder
linked to another class folder, or a split folder linked to the other split), the class-per-folder reader refuses
the set, naming both (:mod:`convbench.data.folder`). Zip member names are decoded as the zip specification
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
        self.real_dirs: dict[str, str] = {}  # folder on disk -> its resolved path (through any link)
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
        archives: list[Path] = []
        top = os.path.realpath(root)
        followed: set[str] = set()  # the folder links followed so far (their own resolved location)

        def visit(folder: str, rel: str, real: str, ancestors: tuple[str, ...]) -> None:
            """List ``folder`` (as reached, through links) as ``rel``; ``real`` is where it resolves to and
            ``ancestors`` the resolved folders from the root down to it (a link to one of them is a loop)."""
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as e:
                raise DataError(f"cannot list the folder {folder}: {e.strerror or e}") from None
            for entry in entries:
                if _is_junk(entry.name):
                    continue
                name = f"{rel}/{entry.name}" if rel else entry.name
                target = _link_target(os.path.join(real, entry.name), top, root, ancestors) \
                    if entry.is_symlink() else None
                if os.path.isdir(target) if target is not None else entry.is_dir(follow_symlinks=False):
                    if target is not None:
                        link = os.path.join(real, entry.name)
                        if link in followed:
                            raise DataError(f"symbolic link {link} is reached twice (through another link to a "
                                            f"folder holding it): a dataset follows each link once")
                        followed.add(link)
                    sub_real = target if target is not None else os.path.join(real, entry.name)
                    self.dirs.add(name)
                    self.real_dirs[name] = sub_real
                    visit(entry.path, name, sub_real, (*ancestors, sub_real))
                elif not rel and is_archive(Path(entry.name)):
                    archives.append(Path(entry.path))
                else:
                    self._add(name, Path(entry.path).read_bytes, entry.path)

        visit(str(root), "", top, (top,))
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


def _link_target(link: str, top: str, root: Path, ancestors: tuple[str, ...]) -> str:
    """Where the symbolic link ``link`` (its resolved location) leads: a path inside the dataset's resolved root
    ``top``, else :class:`DataError` naming the link (outside the root, or a loop to a folder holding it)."""
    target = os.path.realpath(link)
    if not _within(target, top):
        raise DataError(f"symbolic link {link} points outside the dataset folder {root} (to {target}): a dataset "
                        f"never reads outside its own folder")
    if any(_within(folder, target) for folder in ancestors):
        raise DataError(f"symbolic link {link} points to {target}, a folder that holds it (a loop)")
    return target


def _within(path: str, folder: str) -> bool:
    """Whether resolved ``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


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
