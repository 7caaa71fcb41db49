"""Trials on a Ray cluster: Optuna ask-and-tell in this process, training as Ray tasks, timing on the target node only.

Why plain Ray tasks and not Ray Tune: a trial here is two jobs with different placement rules. Training may run
on any node, many at once; timing must run on the target node, one at a time, and never beside a training on that
node (another busy process nearly doubles a median on a small machine). Ray expresses that directly with a
custom resource: the target node is started with ``--resources '{"timing_slot": 1}'``, and the timing task
asks for that slot *and every CPU of the node*, so Ray starts it only when no training runs there and starts no
training there while it runs. Ray Tune runs a trial as one function with one resource request, so the timing
step would need its own locking outside Tune; and Tune's Optuna searcher hides the study we keep for resuming.
With ask-and-tell the study stays in this process (one writer for the SQLite file); the driver also stops
submitting new trainings while a timing task waits, so trainings cannot starve it of the node's CPUs.

Trial folders are written by the nodes that train: the nodes must share the output folder's filesystem (a local
cluster does; for several machines, a shared mount).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from convbench.errors import ConfigError
from convbench.search.trial import Trained, TrialJob, screen, time_exported, time_side_by_side, train_and_export
from convbench.verbosity import verbose

if TYPE_CHECKING:
    from convbench.bench import Measurement
    from convbench.search.engine import _Search

TIMING_RESOURCE = "timing_slot"
CONNECT_TIMEOUT_S = 3.0
WAIT_S = 1.0  # how often the driver wakes to redraw the live view


@ray.remote(num_cpus=1)
def _train_task(job: TrialJob, dataset: Any) -> Any:
    return train_and_export(job, dataset)


@ray.remote
def _screen_task(job: TrialJob, dataset: Any, runtime: str, runs: int, min_seconds: float) -> Any:
    return screen(job, dataset, runtime, runs=runs, min_seconds=min_seconds)


@ray.remote
def _time_task(path: Any, runtime: str, threads: int, runs: int, min_seconds: float) -> Any:
    return time_exported(path, runtime, threads, runs=runs, min_seconds=min_seconds)


@ray.remote
def _side_by_side_task(paths: Any, runtime: str, threads: Any, runs: int, min_seconds: float) -> Any:
    return time_side_by_side(paths, runtime, threads, runs=runs, min_seconds=min_seconds)


@dataclass
class Cluster:
    """A connected Ray cluster with its timing node."""

    address: str
    timing_cpus: float
    training_slots: int
    nodes: list[str] = field(default_factory=list)

    @classmethod
    def connect(cls, address: str) -> Cluster:
        """Connect to ``address`` (``auto`` or ``HOST:PORT``); :class:`ConfigError` in one line when it cannot.

        Raises:
            ConfigError: nothing answers at the address, or no node holds a ``timing_slot`` resource.
        """
        if address != "auto":
            host, _, port = address.rpartition(":")
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
            except (OSError, ValueError):
                raise ConfigError(f"cannot reach a Ray cluster at {address!r} (nothing answers there)") from None
        try:
            # Ray's own settings keep its log lines and its workers' output off the terminal unless verbose
            loud = verbose()
            ray.init(address=address, include_dashboard=False, log_to_driver=loud,
                     logging_level="INFO" if loud else "ERROR")
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {str(e).splitlines()[0]}") from None
        alive = [n for n in ray.nodes() if n.get("Alive")]
        timing = [n for n in alive if n["Resources"].get(TIMING_RESOURCE)]
        if not timing:
            ray.shutdown()
            raise ConfigError(f"no node of the Ray cluster at {address!r} has a {TIMING_RESOURCE} resource; start the "
                              f"target node with --resources '{{\"{TIMING_RESOURCE}\": 1}}'")
        total_cpus = int(sum(n["Resources"].get("CPU", 0) for n in alive))
        return cls(address, timing[0]["Resources"].get("CPU", 1.0), max(1, total_cpus),
                   [n["NodeManagerAddress"] for n in alive])

    def close(self) -> None:
        ray.shutdown()

    def run(self, search: _Search) -> None:
        """Keep up to ``training_slots`` trainings in flight; screen each trial before training and time each trained
        file, both on the timing node (the screen is a timing too)."""
        dataset = ray.put(search.dataset)
        training: dict[Any, tuple[Any, TrialJob]] = {}
        timing: dict[Any, tuple[Any, TrialJob, Trained | None]] = {}  # None: the trial's latency screen
        timing_options = {"resources": {TIMING_RESOURCE: 1}, "num_cpus": self.timing_cpus}
        runtime = search.settings.target.runtime
        search.refresh()
        while True:
            while not timing and len(training) < self.training_slots and search.may_start():
                trial, job = search.ask()
                if search.screens():
                    ref = _screen_task.options(**timing_options).remote(
                        job, dataset, runtime, search.timing.screen_runs, search.timing.screen_min_seconds)
                    timing[ref] = (trial, job, None)
                else:
                    training[_train_task.remote(job, dataset)] = (trial, job)
            if not training and not timing:
                return
            ready, _ = ray.wait([*training, *timing], num_returns=1, timeout=WAIT_S)
            for ref in ready:
                if ref in training:
                    trial, job = training.pop(ref)
                    trained = self._get(ref)
                    if isinstance(trained, str):
                        search.tell(trial, job, Trained("failed", error=trained))
                    elif trained.state != "complete":
                        search.tell(trial, job, trained)
                    else:
                        ref = _time_task.options(**timing_options).remote(
                            trained.exported, runtime, job.params.threads, search.timing.runs,
                            search.timing.min_seconds)
                        timing[ref] = (trial, job, trained)
                else:
                    trial, job, trained = timing.pop(ref)
                    timed = self._get(ref)
                    if trained is None:  # a screen: prune the trial, or train it now
                        if not search.after_screen(trial, job, timed):
                            training[_train_task.remote(job, dataset)] = (trial, job)
                    elif isinstance(timed, str):
                        search.tell(trial, job, trained, error=f"timing failed: {timed}")
                    else:
                        search.tell(trial, job, trained, *timed)
            search.refresh()

    def time_side_by_side(self, paths: list[Path], runtime: str, threads: list[int], *, runs: int,
                          min_seconds: float) -> list[Measurement]:
        """The finalists timed together on the timing node (:func:`convbench.search.trial.time_side_by_side`)."""
        return ray.get(_side_by_side_task.options(resources={TIMING_RESOURCE: 1}, num_cpus=self.timing_cpus).remote(
            paths, runtime, threads, runs, min_seconds))

    @staticmethod
    def _get(ref: Any) -> Any:
        """The task's value, or the error's first line (a crashed task fails its trial, not the search)."""
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as e:
            return str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
