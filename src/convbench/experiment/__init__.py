"""Studies: an experiment file → train, export, parity, bench (and early exit) → report and history, cached."""

from convbench.experiment.files import load_experiment, shipped_experiments
from convbench.experiment.history import append_history, history, history_path
from convbench.experiment.plan import make_plan
from convbench.experiment.runner import StudyRun, run
from convbench.experiment.schema import Experiment
from convbench.experiment.step import Step, StepKind, list_kinds, register_kind, step_kind

__all__ = ["Experiment", "Step", "StepKind", "StudyRun", "append_history", "history", "history_path", "list_kinds",
           "load_experiment", "make_plan", "register_kind", "run", "shipped_experiments", "step_kind"]
