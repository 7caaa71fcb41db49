"""The plan of a study: its steps in dependency order, each keyed by a hash of everything it depends on.

Every registered step kind (:mod:`convbench.experiment.kinds`) plans its own steps, stage by stage: train →
export → parity → bench for every candidate model (and format, quantisation mode, runtime, thread count),
and the early-exit steps for an ``[early_exit]`` section. Running stage by stage puts all training first and
all timing last: failures show early, and timings run back to back. A step's key hashes its kind, its
settings, the keys of the steps it reads, and the library versions, so changing one setting changes the
keys of exactly the steps that depend on it: only those are redone.
"""

from __future__ import annotations

from typing import Any

import convbench.experiment.kinds  # noqa: F401 (registers every step kind)
from convbench.experiment.schema import Experiment
from convbench.experiment.step import Planned, Step, list_kinds, step_kind


def make_plan(experiment: Experiment) -> list[Step[Any]]:
    """Every step of ``experiment`` in an order where each step comes after the steps it needs."""
    planned = Planned()
    for name in list_kinds():  # stage order: a kind plans on the steps of the stages before it
        planned.steps += step_kind(name).plan(experiment, planned)
    return planned.steps
