"""The reference study's early-exit dataset pairs, shared by every early-exit benchmark script.

Each script runs as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``: ``from early_exit_pairs
import PAIRS``. ``{data}`` in a spec is the shared data folder (``--data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

REFERENCE_ACCURACY = 0.993  # the reference study's baseline on MNIST / Omniglot


@dataclass(frozen=True)
class Pair:
    name: str
    main: str  # data spec, {data} is the shared data folder
    redundant: str
    redundancy: float  # the reference study's redundant share of the mix
    channels: int
    reference: float | None = None  # accuracy the early-exit model must reach on this pair, if any
    variants: dict[str, bool] = field(default_factory=lambda: {"reference-polarity": False})  # name → invert


PAIRS = (
    Pair("mnist/omniglot", "mnist:{data}/mnist", "omniglot:{data}/omniglot/images_background.zip", 0.57, 1,
         REFERENCE_ACCURACY, {"reference-polarity": False, "inverted": True}),
    Pair("cifar10/gtsrb", "cifar10:{data}/cifar10-jpeg.zip", "gtsrb:{data}/gtsrb", 0.286, 3),
)
