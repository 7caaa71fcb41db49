"""Timing one exit placement as deployed: the exported early-exit file at batch 1, image by image, on a mix.

Where an exit pays off depends on more than MACs: a later exit rejects more images but costs more before it
decides, and LiteRT's per-op overheads do not scale with MACs. So the placement sweep
(:mod:`convbench.train.early_exit_placement`) times each candidate's deployed file on validation images at the
study's redundancy and compares mean times per image; this module is that measurement, and only that.

Each image is timed ``repeats`` times after one warm-up call and its median counts
(:func:`convbench.bench.early_exit.median_call`); the candidates are compared with each other, each on the very
same images, never against a baseline (that is :func:`convbench.bench.early_exit.time_mix`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.bench.early_exit import median_call
from convbench.errors import ConfigError
from convbench.export.early_exit import export_early_exit
from convbench.runtime.early_exit import EarlyExitRunner, open_early_exit_runner


@dataclass(frozen=True)
class ImageTimes:
    """Per-image results of :func:`time_images`."""

    seconds: np.ndarray  # (N,) each image's median over its repeats
    exited: np.ndarray  # (N,) bool: the image took the exit path

    @property
    def mean_ms(self) -> float:
        """Mean time per image (ms): what the mix costs per image, exits and full paths together."""
        return 1e3 * float(self.seconds.mean())

    @property
    def exit_share(self) -> float:
        """Share of the timed images that took the exit path."""
        return float(self.exited.mean())


def time_images(runner: EarlyExitRunner, images: np.ndarray, repeats: int = 3) -> ImageTimes:
    """Time the loaded ``runner`` on each of ``images`` (float32 ``(N, H, W, C)``) at batch 1, at its threshold.

    Raises:
        ConfigError: ``repeats`` < 1 or no images.
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got repeats={repeats!r}")
    if len(images) == 0:
        raise ConfigError("no images to time the placement on")
    seconds, exited = np.zeros(len(images)), np.zeros(len(images), bool)
    for i, image in enumerate(images[:, None]):  # (1, H, W, C) each
        seconds[i] = median_call(runner, image, repeats)
        exited[i] = runner.exited
    return ImageTimes(seconds, exited)


def time_placement(model_path: Path, images: np.ndarray, *, form: str, threads: int, repeats: int,
                   threshold: float) -> ImageTimes:
    """Export a candidate's saved early-exit model to its deployed ``form`` and time it on ``images``
    (:func:`time_images`) at ``threshold``: the placement sweep's measurement
    (:class:`convbench.train.early_exit_placement.PlacementTimer`)."""
    exported = export_early_exit(model_path, forms=(form,))
    runner = open_early_exit_runner(exported.single or exported.stem, threads=threads, threshold=threshold)
    runner.load()
    return time_images(runner, images, repeats)
