"""What a dataset spec holds: the library side of ``convbench datasets`` (a quick check of a download)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from convbench.data._registry import DataSpec, list_datasets, load
from convbench.data.dataset import Dataset

_META_SHOWN = 200  # meta values whose text is longer than this are left out of the summary


def datasets(spec: str | None = None, **options: Any) -> dict[str, Any]:
    """Without ``spec``: every registered dataset and the layout it reads. With one: load it and describe it.

    Returns:
        ``{"datasets": [{"name", "layout", "needs_path"}, …]}``, or for a spec :func:`describe_dataset`'s
        summary plus ``load_seconds``.

    Raises:
        DataError: the spec cannot be loaded (missing path, wrong layout, bad file …).

    Example:
        >>> datasets("mnist:../shared/data/mnist")["splits"]["test"]["images"]
        10000
    """
    if spec is None:
        return {"datasets": [{"name": info.name, "layout": info.layout, "needs_path": info.needs_path}
                             for info in list_datasets()]}
    started = time.perf_counter()
    dataset = load(DataSpec.parse(spec), **options)
    return {**describe_dataset(dataset), "load_seconds": round(time.perf_counter() - started, 3)}


def describe_dataset(dataset: Dataset) -> dict[str, Any]:
    """A JSON-ready summary: classes, images per split and per class, image shape, skipped images (with the
    first few skipped files), and the loader's other short ``meta`` entries."""
    splits = {name: part for name, part in (("train", dataset.train), ("test", dataset.test)) if part is not None}
    return {
        "name": dataset.name,
        "source": dataset.source,
        "classes": list(dataset.class_names),
        "num_classes": dataset.num_classes,
        "image_shape": list(dataset.image_shape),
        "splits": {name: {"images": len(part),
                          "per_class": np.bincount(part.labels, minlength=dataset.num_classes).tolist()}
                   for name, part in splits.items()},
        "skipped_images": int(dataset.meta.get("skipped_images", 0)),
        "skipped_files": list(dataset.meta.get("skipped_files", [])),
        "meta": {k: v for k, v in dataset.meta.items()
                 if k not in ("skipped_images", "skipped_files") and len(str(v)) <= _META_SHOWN},
    }
