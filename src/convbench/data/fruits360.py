"""Fruits-360 (Mureşan & Oltean): ``Training/<Class>/*.jpg`` and ``Test/<Class>/*.jpg``, 100x100 RGB on white.

Classes are varieties ("Apple Braeburn", "Apple Golden 1", "Pear Williams" …); by default they are
grouped by their first word (→ ``apple``, ``pear``), the variety → group mapping kept in ``meta``.

Every image is a frame of a short video of one fruit turning on a motor (about one turn in 20 s), and
its name carries the video and the frame: ``<frame>_100.jpg`` and ``r_<frame>_100.jpg`` (a second video
of the same fruit, turned about another axis). Training and Test hold interleaved frames of the same
videos, so a random part of Training is made of near-copies of the images beside it (the neighbouring
frames, a degree apart). ``groups`` (typed ids on every split) therefore says where an image comes from,
so a validation split can hold out whole groups: a run of ``sequence_frames`` consecutive frames of one
video (``groups=sequence``, the default: views of a known fruit from angles training has not seen), or a
whole variety (``groups=variety``: fruits training has not seen at all).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.folder import find_class_folders, read_class_folders
from convbench.data.options import as_bool, as_choice
from convbench.errors import ConfigError, DataError

LAYOUT = "Training/<Class>/*.jpg and Test/<Class>/*.jpg (directory or .zip, any top folder)"
GROUPINGS = {"sequence": "frame sequence", "variety": "variety"}  # the groups option → what one group is
# Frames per held-out sequence: about 35° of the turn (a video has ~330 frames), so the middle of a held-out
# run is ~17° from the nearest training view, and each video gives ~10 groups (~300 in the apples-and-pears set).
SEQUENCE_FRAMES = 32  # the default of the sequence_frames option
_FRAME_NAME = re.compile(r"(?P<video>.*?)(?P<frame>\d+)_\d+\.\w+")  # r_123_100.jpg → video "r_", frame 123


@register_dataset("fruits360", layout=LAYOUT)
def load_fruits360(path: Path, labels: str = "group", groups: str = "sequence",
                   sequence_frames: int | str = SEQUENCE_FRAMES, skip_bad_images: bool | str = False) -> Dataset:
    """Fruits-360 with its official Training / Test splits.

    Args:
        labels: ``group`` (default) — one class per first word of the variety, lower-cased
            (``Apple Red 1`` → ``apple``); ``variety`` — one class per folder.
        groups: what the splits' ``groups`` hold (see the module docstring): ``sequence`` (default) — a run
            of ``sequence_frames`` frames of one video; ``variety`` — the class folder.
        sequence_frames: frames per sequence group (default ``SEQUENCE_FRAMES``): shorter runs hold out views
            closer to those training sees (an easier validation), longer ones views farther away.
        skip_bad_images: leave unreadable images out (counted in ``meta["skipped_images"]``).
    """
    labels = as_choice(labels, "labels", ("group", "variety"))
    groups = as_choice(groups, "groups", tuple(GROUPINGS))
    frames = str(sequence_frames).strip()
    if not frames.isdecimal() or int(frames) < 1:
        raise ConfigError(f"option sequence_frames must be a positive integer, got sequence_frames={sequence_frames!r}")
    with Source(path) as source:
        folders = find_class_folders(source, expect=f"Fruits-360's {LAYOUT}")
        if "test" not in folders.files:
            raise DataError(f"{path} has no Training/ and Test/ folders: expected Fruits-360's {LAYOUT}")
        named = {split: PurePosixPath(folder).name.lower() for split, folder in folders.split_dirs.items()}
        # Fruits-360's own folder names: a train/ + test/ image set (a CIFAR-10 image copy …) is another dataset
        if (named.get("train"), named.get("test")) != ("training", "test"):
            found = " and ".join(f"{folders.split_dirs[split]}/" for split in ("train", "test"))
            raise DataError(f"{path} has {found}, not Training/ and Test/ folders: expected Fruits-360's {LAYOUT}")
        group_ids = _group_ids(folders.files, groups, int(frames))
        varieties, train, test, meta = read_class_folders(
            source, folders, skip_bad_images=as_bool(skip_bad_images, "skip_bad_images"), group_of=group_ids.get)
    meta = {**meta, "labels": labels, "varieties": list(varieties), "groups": groups,
            "group_count": len(set(group_ids.values()))}
    class_names = varieties
    if labels == "group":
        mapping = {variety: variety.split()[0].lower() for variety in varieties}
        class_names = tuple(sorted(set(mapping.values())))
        to_group = np.array([class_names.index(mapping[v]) for v in varieties], dtype=np.int64)
        train, test = _relabel(train, to_group), _relabel(test, to_group)
        meta["label_mapping"] = mapping
    return Dataset("fruits360", class_names, train, test, f"fruits360:{path}", meta, grouping=GROUPINGS[groups])


def _group_ids(files: dict[str, dict[str, list[str]]], groups: str, frames: int) -> dict[str, int]:
    """File → group id, ids numbered in the sorted order of the groups' keys (the same in Training and Test).

    A sequence's key is (variety, video, frame // frames); a name without a frame number is a
    group of its own.
    """
    keys = {}
    for classes in files.values():
        for variety, names in classes.items():
            for name in names:
                match = _FRAME_NAME.fullmatch(PurePosixPath(name).name)
                if groups == "variety":
                    keys[name] = (variety, "", -1)
                elif match is None:
                    keys[name] = (variety, PurePosixPath(name).name, -1)
                else:
                    keys[name] = (variety, match["video"], int(match["frame"]) // frames)
    number = {key: i for i, key in enumerate(sorted(set(keys.values())))}
    return {name: number[key] for name, key in keys.items()}


def _relabel(split: Split | None, new_label: np.ndarray) -> Split | None:
    return None if split is None else Split(split.images, new_label[split.labels], split.groups)
