"""Fruits-360 (Mureşan & Oltean): ``Training/<Class>/*.jpg`` and ``Test/<Class>/*.jpg``, 100x100 RGB on white.

Classes are varieties ("Apple Braeburn", "Apple Golden 1", "Pear Williams" …); by default they are
grouped by their first word (→ ``apple``, ``pear``), the variety → group mapping kept in ``meta``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.folder import find_class_folders, read_class_folders
from convbench.data.options import as_bool, as_choice
from convbench.errors import DataError

LAYOUT = "Training/<Class>/*.jpg and Test/<Class>/*.jpg (directory or .zip, any top folder)"


@register_dataset("fruits360", layout=LAYOUT)
def load_fruits360(path: Path, labels: str = "group", skip_bad_images: bool | str = False) -> Dataset:
    """Fruits-360 with its official Training / Test splits.

    Args:
        labels: ``group`` (default) — one class per first word of the variety, lower-cased
            (``Apple Red 1`` → ``apple``); ``variety`` — one class per folder.
        skip_bad_images: leave unreadable images out (counted in ``meta["skipped_images"]``).
    """
    labels = as_choice(labels, "labels", ("group", "variety"))
    with Source(path) as source:
        folders = find_class_folders(source, expect=f"Fruits-360's {LAYOUT}")
        if "test" not in folders.files:
            raise DataError(f"{path} has no Training/ and Test/ folders: expected Fruits-360's {LAYOUT}")
        varieties, train, test, meta = read_class_folders(
            source, folders, skip_bad_images=as_bool(skip_bad_images, "skip_bad_images"))
    meta = {**meta, "labels": labels, "varieties": list(varieties)}
    class_names = varieties
    if labels == "group":
        mapping = {variety: variety.split()[0].lower() for variety in varieties}
        class_names = tuple(sorted(set(mapping.values())))
        to_group = np.array([class_names.index(mapping[v]) for v in varieties], dtype=np.int64)
        train, test = _relabel(train, to_group), _relabel(test, to_group)
        meta["label_mapping"] = mapping
    return Dataset("fruits360", class_names, train, test, f"fruits360:{path}", meta)


def _relabel(split: Split | None, new_label: np.ndarray) -> Split | None:
    return None if split is None else Split(split.images, new_label[split.labels], split.groups)
