"""Omniglot (Lake et al.): handwritten characters of 50 alphabets, 20 drawers each, 105x105 1-bit PNGs.

Distributed as ``images_background.zip`` (30 alphabets, the training set) and ``images_evaluation.zip``
(20 other alphabets, the test set), each holding ``<set>/<Alphabet>/characterNN/<id>_<drawer>.png``;
the ``images_background_small1/2`` subsets have the same layout. Used as the *redundant* set of early
exit, so by default every character is one class, ``omniglot``. ``groups`` holds the alphabet, so a
split can keep whole alphabets unseen. Pixels: white background 255, black strokes 0.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.images import read_splits, skip_report
from convbench.data.options import as_bool, as_choice
from convbench.errors import DataError

LAYOUT = "images_background[.zip] and/or images_evaluation[.zip] holding <Alphabet>/characterNN/*.png " \
         "(the official zips, a folder holding them, or the extracted folders)"
SINGLE_CLASS = "omniglot"
_SET = re.compile(r"images_(background|evaluation)(_small\d+)?", re.IGNORECASE)


@register_dataset("omniglot", layout=LAYOUT)
def load_omniglot(path: Path, labels: str = "single", skip_bad_images: bool | str = False) -> Dataset:
    """Omniglot as ``(N, 105, 105, 1)`` uint8: background set → train, evaluation set → test.

    A path holding only one set gives it as ``train`` (``test`` is None). When the full background set
    is present the small subsets beside it are left out (they are part of it).

    Args:
        labels: ``single`` (default) — one class ``omniglot``; ``alphabet`` — one class per alphabet;
            ``character`` — one class per ``Alphabet/characterNN``.
        skip_bad_images: leave unreadable images out (counted in ``meta["skipped_images"]``).
    """
    labels = as_choice(labels, "labels", ("single", "alphabet", "character"))
    with Source(path) as source:
        entries, sets = _find_characters(source, Path(path))
        alphabets = sorted({alphabet for _, alphabet, _, _ in entries})
        characters = sorted({f"{alphabet}/{character}" for _, alphabet, character, _ in entries})
        class_names = {"single": (SINGLE_CLASS,), "alphabet": tuple(alphabets), "character": tuple(characters)}[labels]
        class_of = {name: i for i, name in enumerate(class_names)}
        group_of = {alphabet: i for i, alphabet in enumerate(alphabets)}
        files: dict[str, list[str]] = {}
        label_lists: dict[str, list[int]] = {}
        group_lists: dict[str, list[int]] = {}
        for split, alphabet, character, name in entries:
            key = {"single": SINGLE_CLASS, "alphabet": alphabet, "character": f"{alphabet}/{character}"}[labels]
            files.setdefault(split, []).append(name)
            label_lists.setdefault(split, []).append(class_of[key])
            group_lists.setdefault(split, []).append(group_of[alphabet])
        stacked, skipped = read_splits(source, files, skip_bad_images=as_bool(skip_bad_images, "skip_bad_images"))
        meta = skip_report(source, skipped)
    splits = {split: Split(images, np.asarray(label_lists[split], np.int64)[kept],
                           np.asarray(group_lists[split], np.int64)[kept])
              for split, (images, kept) in stacked.items()}
    meta.update(labels=labels, alphabets=alphabets, sets=sets)
    return Dataset("omniglot", class_names, splits["train"], splits.get("test"), f"omniglot:{path}", meta)


def _find_characters(source: Source, path: Path) -> tuple[list[tuple[str, str, str, str]], dict[str, list[str]]]:
    """``(split, alphabet, character, file)`` of every PNG at ``…/<Alphabet>/<character>/<file>.png``,
    and the set folders read for each split."""
    found: dict[str, list[tuple[str, str, str]]] = {}  # set folder -> (alphabet, character, file)
    for name in source.names:
        parts = name.split("/")
        if len(parts) >= 3 and parts[-1].lower().endswith(".png"):
            set_name = next((p for p in reversed(parts[:-3]) if _SET.fullmatch(p)), path.name.split(".")[0])
            found.setdefault(set_name, []).append((parts[-3], parts[-2], name))
    if not found:
        raise DataError(f"no <Alphabet>/<character>/*.png files in {path}: expected Omniglot's {LAYOUT}")
    full = {s for s in found if not re.search(r"_small\d+$", s)}
    keep = sorted(s for s in found if s in full or not any(_split_of(f) == _split_of(s) for f in full))
    only_test = all(_split_of(s) == "test" for s in keep)  # an evaluation set alone: it is all there is to train on
    split_of = {s: "train" if only_test else _split_of(s) for s in keep}
    sets: dict[str, list[str]] = {}
    for s in keep:
        sets.setdefault(split_of[s], []).append(s)
    return [(split_of[s], *entry) for s in keep for entry in found[s]], sets


def _split_of(set_name: str) -> str:
    return "test" if "evaluation" in set_name.lower() else "train"
