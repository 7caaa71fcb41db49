"""Class-per-folder image sets: ``<class>/<image>`` or ``{train,test}/<class>/<image>``, under any top folder.

The shared reader behind ``folder``, ``fruits360`` and the CIFAR image copies: it finds the class
folders in a :class:`~convbench.data.archive.Source`, decodes every image on a thread pool and
stacks each split at one size (default: the most common size of the training images).

Symbolic links (see :mod:`convbench.data.archive`): a class folder may be a link to a folder elsewhere inside the
dataset (``train/cat -> ../all/cat``); it is followed once and read as its own class, named by the link. A set in
which two class folders would read the same files on disk (``kitty -> cat``, or ``test -> train``) is refused,
naming both: the same image cannot carry two labels, nor be trained and tested on. Links leading outside the
dataset's folder, or back up into a folder holding them, are refused while the folder is listed.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.images import is_image_name, read_splits, skip_report
from convbench.data.options import as_bool, as_size
from convbench.errors import DataError

SPLIT_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test"}  # folder name -> split


@dataclass(frozen=True)
class ClassFolders:
    """Where the images of a class-per-folder set are.

    Attributes:
        root: the folder holding the class folders (or the split folders), ``""`` for the source's top.
        files: split (``train``/``test``) → class folder name → image files; both sorted.
        ignored: image files found outside that layout (left out).
        split_dirs: split → the folder its class folders are in, as named in the source (``fruits-360/Training``).
    """

    root: str
    files: dict[str, dict[str, list[str]]]
    ignored: int = 0
    split_dirs: dict[str, str] = field(default_factory=dict)


def find_class_folders(source: Source, *, expect: str = "class-per-folder images") -> ClassFolders:
    """Find the class folders in ``source``: split folders (``train``/``training``, ``test``/``testing``,
    any case) when present, else class folders under the deepest folder holding most images.

    Raises:
        DataError: no images, a class folder with no images, or test classes absent from training.
    """
    images = [n for n in source.names if is_image_name(n)]
    if not images:
        raise DataError(f"no image files found in {source.path}: expected {expect}")
    by_root: dict[str, dict[str, dict[str, list[str]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for name in images:  # split layout: …/<split>/<class>/<image>
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3].lower() in SPLIT_NAMES:
            by_root["/".join(parts[:-3])][parts[-3]][parts[-2]].append(name)
    with_train = {root: splits for root, splits in by_root.items()
                  if any(SPLIT_NAMES[s.lower()] == "train" for s in splits)}
    if with_train:
        root = max(with_train, key=lambda r: sum(len(f) for c in with_train[r].values() for f in c.values()))
        files = {SPLIT_NAMES[s.lower()]: dict(classes) for s, classes in with_train[root].items()}
        split_dirs = {SPLIT_NAMES[s.lower()]: f"{root}/{s}".lstrip("/") for s in with_train[root]}
    else:  # plain layout: …/<class>/<image>; the folder holding most images' class folders is the root
        roots = Counter("/".join(PurePosixPath(n).parts[:-2]) for n in images if len(PurePosixPath(n).parts) >= 2)
        if not roots:
            raise DataError(f"images lie loose at the top of {source.path}: expected {expect}")
        root = roots.most_common(1)[0][0]
        classes: dict[str, list[str]] = defaultdict(list)
        for name in images:
            parts = PurePosixPath(name).parts
            if len(parts) >= 2 and "/".join(parts[:-2]) == root:
                classes[parts[-2]].append(name)
        files = {"train": dict(classes)}
        split_dirs = {"train": root}
    _check_class_folders(source, split_dirs, files, expect)
    used = sum(len(f) for c in files.values() for f in c.values())
    return ClassFolders(root, {s: {c: sorted(f) for c, f in sorted(cl.items())} for s, cl in files.items()},
                        len(images) - used, split_dirs)


def _check_class_folders(source: Source, split_dirs: dict[str, str], files: dict[str, dict[str, list[str]]],
                         expect: str) -> None:
    for split, split_dir in split_dirs.items():
        prefix = f"{split_dir}/" if split_dir else ""
        for folder in sorted(source.dirs):
            rest = folder[len(prefix):] if folder.startswith(prefix) else None
            if rest and "/" not in rest and rest not in files[split]:
                raise DataError(f"class folder {source.where(folder)} holds no images: expected {expect}")
    _check_distinct_folders(source, split_dirs, files)
    unknown = sorted(set(files.get("test", {})) - set(files["train"]))
    if unknown:
        raise DataError(f"test classes {', '.join(unknown[:5])} have no training folder in {source.path}")


def _check_distinct_folders(source: Source, split_dirs: dict[str, str],
                            files: dict[str, dict[str, list[str]]]) -> None:
    """Refuse two class folders that are, or hold, the same folder on disk (one reached through a symbolic link)."""
    folders = [(f"{split_dirs[split]}/{name}".lstrip("/"), split) for split, classes in files.items()
               for name in classes]
    real = [(source.real_dirs[name], name) for name, _ in folders if name in source.real_dirs]
    for i, (a, name_a) in enumerate(real):
        for b, name_b in real[i + 1:]:
            if a == b or a.startswith(b.rstrip(os.sep) + os.sep) or b.startswith(a.rstrip(os.sep) + os.sep):
                raise DataError(f"class folders {name_a} and {name_b} (in {source.path}) read the same images on "
                                f"disk ({a if len(a) >= len(b) else b}, through a symbolic link): each image must "
                                f"belong to one class of one split")


def read_class_folders(source: Source, folders: ClassFolders, *, size: tuple[int, int] | None = None,
                       skip_bad_images: bool = False, group_of: Callable[[str], int] | None = None,
                       ) -> tuple[tuple[str, ...], Split, Split | None, dict[str, Any]]:
    """Decode the images of ``folders``: ``(class_names, train, test or None, meta)``.

    Class names are the folder names, sorted; both splits share one size (``size``, default the most
    common training image size) and one channel count. ``group_of`` (file name → group id), when given,
    fills the splits' ``groups``.
    """
    class_names = tuple(folders.files["train"])
    label_of = {c: i for i, c in enumerate(class_names)}
    files = {split: [f for fs in classes.values() for f in fs] for split, classes in folders.files.items()}
    labels = {split: np.array([label_of[c] for c, fs in classes.items() for _ in fs], dtype=np.int64)
              for split, classes in folders.files.items()}
    stacked, skipped = read_splits(source, files, size=size, skip_bad_images=skip_bad_images)
    groups = {split: None if group_of is None else np.array([group_of(f) for f in fs], dtype=np.int64)
              for split, fs in files.items()}
    splits = {split: Split(images, labels[split][kept], None if groups[split] is None else groups[split][kept])
              for split, (images, kept) in stacked.items()}
    meta = {"root": folders.root, **skip_report(source, skipped)}
    if folders.ignored:
        meta["ignored_images"] = folders.ignored
    return class_names, splits["train"], splits.get("test"), meta


@register_dataset("folder", layout="<class>/<image> folders, or train/<class>/… and test/<class>/… "
                                   "(directory, .zip or .tar.gz; any top folder)")
def load_folder(path: Path, size: int | str | None = None, skip_bad_images: bool | str = False) -> Dataset:
    """Any class-per-folder image set; ``train``/``test`` folders become the splits when present.

    Args:
        size: resize every image to this ``H`` or ``HxW`` (default: the most common training image size).
        skip_bad_images: leave unreadable images out (counted in ``meta["skipped_images"]``).
    """
    with Source(path) as source:
        folders = find_class_folders(source)
        class_names, train, test, meta = read_class_folders(
            source, folders, size=as_size(size), skip_bad_images=as_bool(skip_bad_images, "skip_bad_images"))
    return Dataset("folder", class_names, train, test, f"folder:{path}", meta)
