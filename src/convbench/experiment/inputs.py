"""What the settings of several step kinds share: the content of their data files, how a network is trained,
and the machine that times.

Step settings inherit these, so a changed data file or another machine changes exactly the keys of the
steps that read the data or time something.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from convbench.data import DataSpec
from convbench.env import cpu_model
from convbench.experiment.step import StepSettings
from convbench.io import sha256_file


class DataInputs(StepSettings):
    """The main data a step reads: its spec and a fingerprint of its files."""

    data: str
    data_fingerprint: str | None


class TrainingInputs(StepSettings):
    """How a network is trained (``[train]`` with any per-model or ``[early_exit]`` overrides)."""

    epochs: int
    batch_size: int
    patience: int
    seed: int
    augment: bool
    val_fraction: float


class MachineInputs(StepSettings):
    """The machine a timing step runs on: timings are only valid on the machine that took them."""

    cpu: str
    cores: int | None


def data_inputs(spec: str) -> dict[str, str | None]:
    """The :class:`DataInputs` fields of ``spec``."""
    return {"data": spec, "data_fingerprint": fingerprint(spec)}


def machine_inputs() -> dict[str, str | int | None]:
    """The :class:`MachineInputs` fields of this machine."""
    return {"cpu": cpu_model(), "cores": os.cpu_count()}


def fingerprint(spec: str | None) -> str | None:
    """A content fingerprint of a data spec's files: a file's SHA-256, a folder's listing (names, sizes, times)."""
    if spec is None:
        return None
    path = DataSpec.parse(spec).path
    if path is None:
        return "embedded"
    path = path.resolve()
    stat = path.stat()
    return _fingerprint(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:  # size and time: a changed file misses the memo
    root = Path(path)
    if root.is_file():
        return sha256_file(root)
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()
