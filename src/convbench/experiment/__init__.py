"""Studies: an experiment file → train, export, parity, bench (and early exit) → report and history, cached."""

from convbench.experiment.files import load_experiment, shipped_experiments
from convbench.experiment.history import append_history, history, history_path
from convbench.experiment.plan import Step, make_plan
from convbench.experiment.runner import StudyRun, run
from convbench.experiment.schema import Experiment

__all__ = ["Experiment", "Step", "StudyRun", "append_history", "history", "history_path", "load_experiment",
           "make_plan", "run", "shipped_experiments"]
