"""GTSRB (Stallkamp et al.), the German Traffic Sign Recognition Benchmark: 43 classes of signs.

As distributed (three zips, or their extracted folders, or a folder holding the zips):

- ``GTSRB_Final_Training_Images.zip``: ``GTSRB/Final_Training/Images/000NN/*.ppm`` with ``GT-000NN.csv``
  per class folder;
- ``GTSRB_Final_Test_Images.zip``: ``GTSRB/Final_Test/Images/*.ppm`` (its csv has no labels);
- ``GTSRB_Final_Test_GT.zip``: ``GT-final_test.csv``, the test labels.

The csv files are ``;``-separated: ``Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId``. Images
vary in size (15x15 to 250x250), so they are resized to one size. Class names are the class folder
names (``00000`` … ``00042``), which never clash with the digit names of MNIST/SVHN when mixing.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path, PurePosixPath

import numpy as np

from convbench.data._registry import register_dataset
from convbench.data.archive import Source
from convbench.data.dataset import Dataset, Split
from convbench.data.images import Box, read_splits, skip_report
from convbench.data.options import as_bool, as_choice, as_size
from convbench.errors import DataError

LAYOUT = "Final_Training/Images/000NN/*.ppm with GT-000NN.csv; optionally Final_Test/Images/*.ppm with " \
         "GT-final_test.csv (the official zips, a folder holding them, or the extracted folders)"
_TRAIN_CSV = re.compile(r"(.*/)?Final_Training/Images/(\d{5})/GT-\2\.csv")
_TEST_IMAGE = re.compile(r"(.*/)?Final_Test/Images/[^/]+\.ppm", re.IGNORECASE)
_COLUMNS = ("Filename", "ClassId")
NUM_CLASSES = 43  # GTSRB's ClassIds are 0-42
_ROI = ("Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2")

Row = tuple[str, int, Box | None]  # (image file in the source, class id, crop box)


@register_dataset("gtsrb", layout=LAYOUT)
def load_gtsrb(path: Path, crop: str = "none", size: int | str | None = None,
               skip_bad_images: bool | str = False) -> Dataset:
    """GTSRB's training images and, when its labels are present, its test images, as ``(N, H, W, 3)`` uint8.

    Args:
        crop: ``none`` (default) or ``roi``: cut each image to the csv's sign box (corners inclusive).
        size: resize every image to this ``H`` or ``HxW`` (default: the most common training size).
        skip_bad_images: leave unreadable images out (counted in ``meta["skipped_images"]``).
    """
    use_roi = as_choice(crop, "crop", ("none", "roi")) == "roi"
    with Source(path) as source:
        train_rows = _training_rows(source, use_roi)
        test_rows = _test_rows(source, use_roi)
        class_ids = sorted({class_id for _, class_id, _ in train_rows})
        unknown = sorted({c for _, c, _ in test_rows} - set(class_ids))
        if unknown:
            raise DataError(f"GT-final_test.csv in {path} has ClassId {unknown[0]}, which has no training folder")
        rows = {"train": train_rows, **({"test": test_rows} if test_rows else {})}
        stacked, skipped = read_splits(source, {s: [f for f, _, _ in r] for s, r in rows.items()},
                                       size=as_size(size), skip_bad_images=as_bool(skip_bad_images, "skip_bad_images"),
                                       crops={s: [b for _, _, b in r] for s, r in rows.items()})
        meta = {"crop": crop, **skip_report(source, skipped)}
    label_of = np.zeros(max(class_ids) + 1, np.int64)
    label_of[class_ids] = np.arange(len(class_ids))
    splits = {s: Split(images, label_of[np.array([c for _, c, _ in rows[s]], np.int64)[kept]])
              for s, (images, kept) in stacked.items()}
    return Dataset("gtsrb", tuple(f"{c:05d}" for c in class_ids), splits["train"], splits.get("test"),
                   f"gtsrb:{path}", meta)


def _training_rows(source: Source, use_roi: bool) -> list[Row]:
    csvs = [n for n in source.names if _TRAIN_CSV.fullmatch(n)]
    if not csvs:
        raise DataError(f"no Final_Training/Images/000NN/GT-000NN.csv in {source.path}: expected GTSRB's {LAYOUT}")
    rows = []
    for name in csvs:  # a training csv lists the images of its own class folder 000NN only
        folder_id = int(_TRAIN_CSV.fullmatch(name)[2])  # type: ignore[index]
        if folder_id >= NUM_CLASSES:
            raise DataError(f"{source.where(name)}: class folder {folder_id:05d} is not a GTSRB class "
                            f"(expected 00000-{NUM_CLASSES - 1:05d})")
        for row in _read_csv(source, name, use_roi):
            if row[1] != folder_id:
                raise DataError(f"{source.where(name)} lists {row[0].rpartition('/')[2]} with ClassId {row[1]}: "
                                f"expected {folder_id}, its class folder's")
            rows.append(row)
    return rows


def _test_rows(source: Source, use_roi: bool) -> list[Row]:
    images = [n for n in source.names if _TEST_IMAGE.fullmatch(n)]
    labels = source.find(r"GT-final_test\.csv")
    if not images:
        return []
    if not labels:
        warnings.warn(f"{source.path} has GTSRB test images but no GT-final_test.csv (GTSRB_Final_Test_GT.zip): "
                      "the test split is left out", stacklevel=3)
        return []
    return _read_csv(source, labels[0], use_roi, image_dir=str(PurePosixPath(images[0]).parent))


def _read_csv(source: Source, name: str, use_roi: bool, image_dir: str | None = None) -> list[Row]:
    """The ``(file, class id, box)`` rows of one GTSRB csv; files lie beside it unless ``image_dir`` says."""
    folder = image_dir if image_dir is not None else str(PurePosixPath(name).parent)
    text = source.read(name).decode("utf-8-sig", errors="replace")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
        columns, records = reader.fieldnames or (), list(reader)
    except csv.Error as e:  # a NUL byte, a stray quote at the end …
        raise DataError(f"{source.where(name)} is not a readable ';'-separated csv ({e})") from None
    needed = _COLUMNS + (_ROI if use_roi else ())
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(f"{source.where(name)} has no {', '.join(missing)} column: expected the ';'-separated "
                        f"GTSRB columns Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId")
    rows = []
    for line, record in enumerate(records, start=2):
        file = f"{folder}/{record['Filename']}"
        if file not in source:
            raise DataError(f"{source.where(name)} line {line} names {record['Filename']}, which is not in "
                            f"{source.path}: expected it at {file}")
        try:
            class_id = int(record["ClassId"])
            # ROI corners are inclusive pixel positions; PIL's box excludes right/bottom, hence + 1
            box = (int(record["Roi.X1"]), int(record["Roi.Y1"]), int(record["Roi.X2"]) + 1,
                   int(record["Roi.Y2"]) + 1) if use_roi else None
        except (TypeError, ValueError):
            raise DataError(f"{source.where(name)} line {line}: expected integer ClassId and Roi values") from None
        if not 0 <= class_id < NUM_CLASSES:  # checked before any array is sized by it
            raise DataError(f"{source.where(name)} line {line} has ClassId {class_id}: expected 0-{NUM_CLASSES - 1}")
        rows.append((file, class_id, box))
    return rows
