"""Timing the exit placements as deployed: the exported early-exit files at batch 1, image by image, on a mix.

Where an exit pays off depends on more than MACs: a later exit rejects more images but costs more before it
decides, and LiteRT's per-op overheads do not scale with MACs. So the placement sweep
(:mod:`convbench.early_exit.placement`) times each candidate's deployed file on validation images at the
study's redundancy and compares mean times per image; this module is that measurement, and only that.

The candidates are timed together, taking turns chunk by chunk in seeded shuffled rounds
(:func:`convbench.early_exit.measurement.time_stream`, the protocol of the savings benchmark): timed one after
another, a candidate would be compared with the others across minutes in which this VM drifts 20-30 %, more than
the differences between neighbouring exit points. Each image's time is its median over ``repeats`` rounds; the
candidates are compared with each other, each on the very same images, never against a baseline (that is
:func:`convbench.early_exit.measurement.time_mix`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convbench.early_exit.measurement import exit_decisions, time_stream
from convbench.export.early_exit import export_early_exit
from convbench.runtime.early_exit import open_early_exit_runner


@dataclass(frozen=True)
class ImageTimes:
    """Per-image results of one candidate in :func:`time_placement`."""

    seconds: np.ndarray  # (N,) each image's median over the rounds
    exited: np.ndarray  # (N,) bool: the image took the exit path

    @property
    def mean_ms(self) -> float:
        """Mean time per image (ms): what the mix costs per image, exits and full paths together."""
        return 1e3 * float(self.seconds.mean())

    @property
    def exit_share(self) -> float:
        """Share of the timed images that took the exit path."""
        return float(self.exited.mean())


def time_placement(model_paths: Sequence[Path], images: np.ndarray, *, form: str, threads: int, repeats: int,
                   thresholds: Sequence[float]) -> list[ImageTimes]:
    """Export every candidate's saved early-exit model to its deployed ``form`` and time them together on
    ``images`` (float32 ``(N, H, W, C)``), each at its own threshold: the placement sweep's measurement
    (:class:`convbench.early_exit.placement.PlacementTimer`). One :class:`ImageTimes` per candidate, in order.

    Raises:
        ConfigError: ``repeats`` < 1 or no images.
    """
    runners = []
    for path, threshold in zip(model_paths, thresholds, strict=True):
        exported = export_early_exit(path, forms=(form,))
        runner = open_early_exit_runner(exported.single or exported.stem, threads=threads, threshold=threshold)
        runner.load()
        runners.append(runner)
    timing = time_stream(runners, images, repeats)
    return [ImageTimes(seconds, exit_decisions(runner, outputs))
            for runner, outputs, seconds in zip(runners, timing.outputs, timing.seconds, strict=True)]
