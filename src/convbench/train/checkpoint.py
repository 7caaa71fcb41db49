"""Per-epoch checkpoints with early stopping, so an interrupted training run resumes where it stopped, bit for bit.

A resumed run must end with the very weights and figures of a run that was never stopped, so a checkpoint
holds everything the training loop carries from one epoch to the next:

- ``model.npz``: every variable of the model in ``model.variables`` order: weights, batch-norm statistics and
  the state of each layer's random generator (the dropout masks). ``model.save`` leaves those generators out:
  a model restored from a ``.keras`` file draws the masks of its first epochs again (that alone moved a
  resumed MobileNet's test accuracy from 0.69 to 0.76);
- ``optimizer.npz``: every optimizer variable (step count, Adam's moments);
- ``best.npz``: the best epoch's weights (restored at the end, as early stopping does);
- ``state.json``: the run's identity, epochs done, history, early-stopping state, time spent.

The order of the batches and the augmentation are functions of ``(seed, epoch)``
(:mod:`convbench.train.pipeline`), and the model is rebuilt by the caller's own code after the same seeding
before the saved values are assigned, so nothing else needs saving: Python's, NumPy's and Keras' global
random generators are seeded before the model is built and not drawn from while fitting (layers draw from
their own generators, which are saved).

Layout and atomicity: the folder holds one complete checkpoint, ``epoch-0003/``. The next one is written as
``.epoch-0004.tmp/``, flushed to disk, renamed to ``epoch-0004/`` (a rename is atomic), and only then is
``epoch-0003/`` removed. A run killed at any moment leaves at least the previous complete checkpoint; what
a killed save left (any ``.*.tmp`` entry) is never read and is removed by the next run.

Early stopping lives here rather than in ``keras.callbacks.EarlyStopping`` because its state (best
score, best weights, epochs without improvement) must survive the interruption, and Keras' callback
resets it at the start of every ``fit``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from convbench.env import cpu_model, library_versions
from convbench.errors import ConfigError, OutputError
from convbench.io import read_json

MONITOR = ("val_accuracy", "val_loss")  # best epoch: highest validation accuracy, ties broken by lower loss
MODEL_VARIABLES, OPTIMIZER_VARIABLES, BEST_WEIGHTS, STATE = "model.npz", "optimizer.npz", "best.npz", "state.json"
_COMPLETE = re.compile(r"epoch-(\d{4,})")  # a checkpoint renamed into place whole
_GARBAGE_SUFFIX = ".tmp"  # a dot-name ending so is a killed save's or removal's leftover: never read
# A save failing so is about the disk or the folder, not a bug: the user gets one line naming the checkpoint.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG})


@dataclass
class TrainingState:
    """Where a run stands after some epochs.

    Attributes:
        config: what identifies the run; resuming requires an identical one.
        epoch: epochs completed.
        history: per-epoch metrics as Keras reports them (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``).
        best_accuracy, best_loss: validation accuracy and loss of the best epoch so far.
        best_epoch: 1-based epoch of the best epoch (0 before the first epoch).
        wait: epochs since the last improvement (early stopping stops at ``wait == patience``).
        train_seconds: time spent in epochs, summed over every session of the run.
        kernels: what chose the numeric kernels of the last epoch (see :func:`kernels`).
    """

    config: dict[str, Any]
    epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    best_accuracy: float = -math.inf
    best_loss: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    train_seconds: float = 0.0
    kernels: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Saved:
    """A checkpoint as read from disk (see the module docstring for each part)."""

    path: Path
    state: TrainingState
    model_variables: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    best_weights: list[np.ndarray]


class ResumeNotice(UserWarning):
    """A run resumed on other kernels than its checkpoint's: it continues, but no longer bit for bit."""


def kernels() -> dict[str, Any]:
    """What chooses TensorFlow's numeric kernels, so the last digits of a training run.

    Measured on the digits test run: 1 intra-op thread instead of 2, or ``TF_DETERMINISTIC_OPS=1``, each gave
    other weights; the inter-op thread count did not change them. The CPU (oneDNN picks kernels per
    instruction set) and the library versions do too.
    """
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if not threads:  # TensorFlow's default: one per CPU this process may run on
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = library_versions()
    libraries = {name: versions[name] for name in ("tensorflow", "tensorflow-cpu", "keras") if name in versions}
    return {"cpu": cpu_model(), "intra_op_threads": threads,
            "deterministic_ops": os.environ.get("TF_DETERMINISTIC_OPS", ""), "libraries": libraries}


def _improves(accuracy: float, loss: float, best_accuracy: float, best_loss: float) -> bool:
    """Whether an epoch beats the best so far: higher validation accuracy, or equal with a lower validation loss."""
    return accuracy > best_accuracy or (accuracy == best_accuracy and loss < best_loss)


class Checkpoint(keras.callbacks.Callback):
    """Keras callback: early stopping on validation accuracy plus a checkpoint after every epoch.

    An epoch is better when its validation accuracy is higher, or equal with a lower validation loss:
    on easy data validation accuracy reaches 1.0 within a few epochs, and accuracy alone would then
    stop training (and keep the weights) long before the model has converged.

    Args:
        directory: the checkpoint folder (layout in the module docstring).
        state: the run's state; updated in place.
        patience: stop after this many epochs without a better validation accuracy.
        best_weights: the best epoch's weights when resuming (``None`` for a fresh run).
    """

    def __init__(self, directory: Path, state: TrainingState, *, patience: int,
                 best_weights: list[np.ndarray] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.state = state
        self.patience = patience
        self.best_weights = best_weights
        self._epoch_started = 0.0

    @property
    def stopped(self) -> bool:
        """Whether early stopping has ended the run."""
        return self.state.epoch > 0 and self.state.wait >= self.patience

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        state = self.state
        state.train_seconds += time.perf_counter() - self._epoch_started
        state.epoch = epoch + 1
        for key, value in logs.items():
            state.history.setdefault(key, []).append(float(value))
        accuracy, loss = (float(logs[key]) for key in MONITOR)
        if _improves(accuracy, loss, state.best_accuracy, state.best_loss):
            state.best_accuracy, state.best_loss, state.best_epoch, state.wait = accuracy, loss, epoch + 1, 0
            self.best_weights = self.model.get_weights()
        else:
            state.wait += 1
        save(self.directory, self.model, self.state, self.best_weights)
        if self.stopped:
            self.model.stop_training = True


def save(directory: Path, model: keras.Model, state: TrainingState, best_weights: Sequence[np.ndarray]) -> Path:
    """Write the checkpoint of ``state.epoch`` (and the kernels it ran on) into ``directory`` whole, then remove
    the older one.

    Returns:
        The new checkpoint's folder.

    Raises:
        OutputError: the disk is full or read-only, or permission is denied (the previous checkpoint stays).
    """
    state.kernels = kernels()
    final = directory / f"epoch-{state.epoch:04d}"
    staging = directory / f".{final.name}{_GARBAGE_SUFFIX}"
    directory.mkdir(parents=True, exist_ok=True)
    _remove(staging)  # a killed save of this very epoch
    staging.mkdir()
    try:
        np.savez(staging / MODEL_VARIABLES, *(keras.ops.convert_to_numpy(v.value) for v in model.variables))
        np.savez(staging / OPTIMIZER_VARIABLES,
                 *(keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables))
        np.savez(staging / BEST_WEIGHTS, *best_weights)
        (staging / STATE).write_text(json.dumps(state.to_dict(), indent=2) + "\n", encoding="utf-8")
        for path in (*staging.iterdir(), staging):
            _fsync(path)  # on disk before the rename makes the checkpoint current (a power cut, not only a kill)
        os.replace(staging, final)
    except BaseException as e:  # a full disk or Ctrl-C mid-save: leave no staging behind (a SIGKILL leaves it unread)
        _remove(staging)
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            raise OutputError(f"cannot write the checkpoint {final}: {e.strerror}") from e
        raise
    _fsync(directory)
    for older in _complete(directory):
        if older != final:
            _discard(older)
    return final


def latest(directory: Path) -> Saved | None:
    """The newest complete checkpoint in ``directory`` (``None`` when there is none); reads, removes nothing.

    Raises:
        ConfigError: the checkpoint cannot be read, or was written by a convbench that did not save the
            random generators (a flat ``state.json`` in ``directory``): resuming it would not replay the run.
    """
    if (directory / STATE).exists():
        raise ConfigError(f"{directory}: checkpoint written by an older convbench, without the random state a "
                          f"resume needs to replay the run; resume=False (--no-resume) starts over")
    found = _complete(directory)
    if not found:
        return None
    path = found[-1]
    try:
        return Saved(path, TrainingState(**read_json(path / STATE)), _arrays(path / MODEL_VARIABLES),
                     _arrays(path / OPTIMIZER_VARIABLES), _arrays(path / BEST_WEIGHTS))
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ConfigError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e}); resume=False (--no-resume) "
                          f"starts over") from None


def restore(directory: Path, config: dict[str, Any], new_model: Callable[[], keras.Model], *, epochs: int,
            patience: int) -> tuple[keras.Model, TrainingState, list[np.ndarray]] | None:
    """Rebuild the run saved in ``directory`` as it stood after its last epoch; ``None`` when there is none.

    Removes what a killed save left behind first. The model is built by ``new_model`` (the caller's own
    builder, called as a fresh run calls it), then every model and optimizer variable gets its saved value.
    Warns (:class:`ResumeNotice`) when the kernels differ from the checkpoint's (another CPU, thread count,
    ``TF_DETERMINISTIC_OPS`` or library version): the run then continues, but not bit for bit.

    Args:
        config: the run's identity; the checkpoint must hold the very same.
        epochs, patience: the stopping rule now asked for. The checkpoint must be where a run under this rule
            would pass: not past ``epochs``, and not past an epoch where ``patience`` would have stopped it.

    Returns:
        The model (with optimizer state), the state and the best epoch's weights.

    Raises:
        ConfigError: the checkpoint belongs to a run with a different config (names the differences), went
            past the stopping rule, or cannot be read.
    """
    remove_leftovers(directory)
    saved = latest(directory)
    if saved is None:
        return None
    state = saved.state
    differences = sorted(key for key in config.keys() | state.config.keys()
                         if config.get(key) != state.config.get(key))
    if differences:
        changes = "; ".join(f"{k}: {state.config.get(k)!r} -> {config.get(k)!r}" for k in differences)
        raise ConfigError(f"{directory}: checkpoint of a different run ({changes}); use another output folder, "
                          f"or resume=False (--no-resume) to start over")
    _check_stopping_rule(saved, epochs=epochs, patience=patience)
    now = kernels()
    if changed := sorted(key for key in now.keys() | state.kernels.keys() if now.get(key) != state.kernels.get(key)):
        warnings.warn(f"{directory}: resuming with other kernels than epoch {state.epoch} ran on ("
                      + "; ".join(f"{k}: {state.kernels.get(k)!r} -> {now.get(k)!r}" for k in changed)
                      + "): the run continues, but may differ in the last digits from one never interrupted",
                      ResumeNotice, stacklevel=2)
    model = new_model()
    model.optimizer.build(model.trainable_variables)
    _assign(saved.path / MODEL_VARIABLES, model.variables, saved.model_variables)
    _assign(saved.path / OPTIMIZER_VARIABLES, model.optimizer.variables, saved.optimizer_variables)
    return model, state, saved.best_weights


_OLDER_LAYOUT = frozenset({STATE, "last.keras", BEST_WEIGHTS})  # the flat checkpoint an older convbench wrote


def is_checkpoint_folder(path: Path) -> bool:
    """Whether ``path`` is a checkpoint folder convbench wrote: a folder (not a link) holding nothing but complete
    checkpoints (``epoch-NNNN/``), what killed saves left (``.*.tmp``) and an older convbench's flat checkpoint; the
    one thing :func:`start_over` may remove (:mod:`convbench.outputs`)."""
    if not path.is_dir() or path.is_symlink():
        return False
    return all((_COMPLETE.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink())
               or (entry.name.startswith(".") and entry.name.endswith(_GARBAGE_SUFFIX))
               or entry.name in _OLDER_LAYOUT for entry in path.iterdir())


def start_over(directory: Path) -> None:
    """Remove every checkpoint in ``directory`` (a run asked not to resume); what cannot be renamed stays unread."""
    remove_leftovers(directory)
    if directory.exists():
        _discard(directory)


def remove_leftovers(directory: Path) -> None:
    """Remove what killed saves and removals left: ``.*.tmp`` entries in ``directory``, and the
    ``.<directory name>.*.tmp`` folders beside it that earlier versions wrote the whole checkpoint into."""
    beside = directory.parent.glob(f".{directory.name}.*{_GARBAGE_SUFFIX}") if directory.parent.exists() else ()
    inside = directory.glob(f".*{_GARBAGE_SUFFIX}") if directory.is_dir() else ()
    for leftover in (*beside, *inside):
        _remove(leftover)


def _check_stopping_rule(saved: Saved, *, epochs: int, patience: int) -> None:
    """Refuse a checkpoint that a run stopping at ``epochs`` / ``patience`` would never have reached.

    Nothing in an epoch depends on the number of epochs asked for or on the patience (no schedule over
    epochs), so continuing a run under a new rule replays the run that had this rule from the start, as
    long as that run would have got this far.
    """
    state = saved.state
    if state.epoch > epochs:
        raise ConfigError(f"{saved.path.parent}: the checkpoint is at epoch {state.epoch}, past epochs={epochs}; "
                          f"ask for at least {state.epoch} epochs, or resume=False (--no-resume) to start over")
    accuracies, losses = (state.history.get(key, []) for key in MONITOR)
    best_accuracy, best_loss, wait = -math.inf, math.inf, 0
    for epoch, (accuracy, loss) in enumerate(zip(accuracies, losses, strict=True), start=1):
        if _improves(accuracy, loss, best_accuracy, best_loss):
            best_accuracy, best_loss, wait = accuracy, loss, 0
        else:
            wait += 1
        if wait >= patience and epoch < state.epoch:
            raise ConfigError(f"{saved.path.parent}: with patience={patience} this run stops after epoch {epoch}, "
                              f"but its checkpoint went on to epoch {state.epoch}; ask for a larger patience, or "
                              f"resume=False (--no-resume) to start over")


def _complete(directory: Path) -> list[Path]:
    """The complete checkpoints in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir()
             if path.is_dir() and (match := _COMPLETE.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


def _arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _assign(path: Path, variables: Sequence[keras.Variable], values: Sequence[np.ndarray]) -> None:
    """Give every variable its saved value, after checking that the saved list matches the built one."""
    if len(values) != len(variables):
        raise ConfigError(f"{path}: {len(values)} saved variables but the model has {len(variables)}; "
                          f"resume=False (--no-resume) starts over")
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape or keras.backend.standardize_dtype(variable.dtype) != value.dtype:
            raise ConfigError(f"{path}: saved {value.dtype}{list(value.shape)} for {variable.path}, which is "
                              f"{variable.dtype}{list(variable.shape)}; resume=False (--no-resume) starts over")
        variable.assign(value)


def _discard(path: Path) -> None:
    """Remove a folder so that no moment sees it half removed: rename it to a leftover's name, then delete."""
    doomed = path.with_name(f".{path.name}.removed{_GARBAGE_SUFFIX}")
    _remove(doomed)
    os.replace(path, doomed)
    _remove(doomed)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
