"""Checks of option values and output paths, run by every entry point before it loads data or a runtime.

Light to import (the standard library only): the CLI runs them before it imports Keras or a runtime, so a bad
option gets its one-line error before any library has logged a line or spent a second, and the library functions
run the same checks for Python callers. Each error names the option and the value it got
(``width must be a finite number in (0, 4], got width=inf``) or the path.

The upper bounds are not limits of the code but of sense: a value beyond them is a typo (``1e12`` seconds) or
asks for more than a small-device study can mean, and would otherwise run for ever or allocate without end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from convbench.errors import ConfigError, ModelError
from convbench.vocabulary import CUES, TRAIN_DEFAULTS

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are unsigned 32-bit integers
MAX_WIDTH = 4.0  # width multiplier α: the papers go to 1.4; parameters grow as α², so 4 is already 16x the paper's
MAX_INPUT_SIZE = 2048  # pixels per side: far beyond what a small-device classifier takes
MAX_THREADS = 1024  # runtime threads
# Counts of whole timing passes (README: "timing loops at most an hour"). Each round times every file once, with its
# warm-up (10 calls by default) and at least one call, and each fresh load is a file read, an interpreter or session
# build and a cold call; at 1000 of either, a slow model (a Keras file loads in about a second, a large one's call
# takes ~0.3 s) still ends within the hour, and no statistic convbench reports gets better from more: a verdict is
# decided on 6 rounds or more (10 by default), a load's median and CI on 5 loads.
MAX_ROUNDS = 1000
MAX_LOAD_REPEATS = 1000
GOALS: tuple[str, ...] = ("max_false_exit", "exit_rate")


def integer_in(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` when it is an integer in ``[low, high]``; else :class:`ConfigError` naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigError(f"{name} must be an integer {bound}, got {name}={value!r}")
    return value


def number_in(name: str, value: object, low: float, high: float, *, low_open: bool = False,
              high_open: bool = False) -> float:
    """``value`` when it is a finite number in the interval; else :class:`ConfigError` naming ``name`` and the value.

    NaN and ±inf are refused (``not low <= value`` is true for NaN).
    """
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (math.isfinite(number) and above and below):
        upper = "∞)" if math.isinf(high) else f"{high:g}{')' if high_open else ']'}"
        interval = f"{'(' if low_open else '['}{low:g}, {upper}"
        raise ConfigError(f"{name} must be a finite number in {interval}, got {name}={value!r}")
    return float(number)


def check_width(width: object) -> float:
    """A width multiplier α in (0, ``MAX_WIDTH``]; :class:`ModelError` otherwise (as the builders raise)."""
    try:
        return number_in("width", width, 0.0, MAX_WIDTH, low_open=True)
    except ConfigError as e:
        raise ModelError(str(e)) from None


def check_threads(threads: object, name: str = "threads") -> int:
    """A runtime thread count: an integer in [1, ``MAX_THREADS``]."""
    return integer_in(name, threads, 1, MAX_THREADS)


def check_rounds(rounds: object, name: str = "rounds") -> int:
    """Interleaved rounds of a timing: an integer in [1, ``MAX_ROUNDS``]."""
    return integer_in(name, rounds, 1, MAX_ROUNDS)


def check_load_repeats(load_repeats: object, name: str = "load_repeats") -> int:
    """Fresh loads a timing times: an integer in [1, ``MAX_LOAD_REPEATS``]."""
    return integer_in(name, load_repeats, 1, MAX_LOAD_REPEATS)


def one_of(name: str, value: object, known: Sequence[str]) -> str:
    """``value`` when it is one of ``known``; else :class:`ConfigError` naming it and listing the known ones."""
    if not isinstance(value, str) or value not in known:
        raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    return value


def check_seed(seed: object) -> int:
    """A seed NumPy and TensorFlow accept: an integer in [0, 2³² - 1]."""
    return integer_in("seed", seed, 0, MAX_SEED)


@dataclass(frozen=True)
class TrainingOptions:
    """The options of a training run, checked when built (before any data is loaded or model built).

    :func:`convbench.train.train`, ``train_early_exit`` and the CLI build one from what they were given; the
    meaning of each field is ``train``'s argument of that name. ``None`` means "from the data or architecture".

    Raises:
        ConfigError: a value out of its range (naming it); ModelError for the width.
    """

    width: float = TRAIN_DEFAULTS.width
    epochs: int = TRAIN_DEFAULTS.epochs
    batch_size: int = TRAIN_DEFAULTS.batch_size
    patience: int = TRAIN_DEFAULTS.patience
    seed: int = TRAIN_DEFAULTS.seed
    val_fraction: float = TRAIN_DEFAULTS.val_fraction
    learning_rate: float = 1e-3
    input_size: int | None = None
    channels: int | None = None
    augment: bool = False

    def __post_init__(self) -> None:
        check_width(self.width)
        for name in ("epochs", "batch_size", "patience"):
            integer_in(name, getattr(self, name), 1)
        check_seed(self.seed)
        number_in("val_fraction", self.val_fraction, 0.0, 1.0, low_open=True, high_open=True)
        number_in("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        if self.input_size is not None:
            integer_in("input_size", self.input_size, 1, MAX_INPUT_SIZE)
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got channels={self.channels!r}")


def output_folder(path: str | os.PathLike[str], option: str = "out") -> Path:
    """``path`` as a folder this process can create or write into; :class:`ConfigError` naming it otherwise.

    Refuses an existing file (which would otherwise fail late, after the work, with a bare "File exists"), and a
    folder whose nearest existing ancestor is a file or not writable. Creates nothing.
    """
    folder = _given_path(path, option)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder}: is a file, not a folder; give a folder (or a new name)")
    _writable(folder, option)
    return folder


def output_file(path: str | os.PathLike[str], option: str = "out") -> Path:
    """``path`` as a file this process can write; :class:`ConfigError` naming it when it is a folder or cannot be."""
    file = _given_path(path, option)
    if file.is_dir():
        raise ConfigError(f"{option} {file}: is a folder; give a file name")
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"{option} {file}: the file is not writable")
    _writable(file.parent, option, shown=file)
    return file


def _given_path(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` as a Path; an empty one is refused (``Path("")`` is the current folder, which nobody meant)."""
    if not os.fspath(path).strip():
        raise ConfigError(f"{option}: the path is empty")
    return Path(path)


def _writable(folder: Path, option: str, shown: Path | None = None) -> None:
    """Raise unless ``folder`` exists as a writable folder or can be created in the nearest existing ancestor."""
    ancestor = folder.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    shown = shown if shown is not None else folder
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {shown}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {shown}: cannot write in {ancestor} (permission denied)")


@dataclass(frozen=True)
class CalibrationGoal:
    """A calibration asked for, checked (:func:`calibration_goal`): ``goal``'s ``target``, certified at
    ``confidence`` when given, counted on the validation split plus ``held_out_main`` more main-class images."""

    goal: str
    target: float
    confidence: float | None = None
    held_out_main: int = 0


def calibration_goal(max_false_exit: float | None, exit_rate: float | None, confidence: float | None = None,
                     held_out_main: int = 0, *, threshold: float | None = None) -> CalibrationGoal | None:
    """The calibration the options ask for, ``None`` for none: the one check of these options, for the Python API,
    the command line and the experiment file alike.

    ``threshold`` is a fixed exit threshold given beside them (``None``: none given). A goal picks the threshold
    itself, so the two cannot both hold: with a goal, a given threshold is refused rather than silently dropped.
    (``convbench early-exit train`` takes no threshold; ``early-exit eval --threshold`` overrides a trained
    model's calibrated one on purpose, after the fact.)

    Raises:
        ConfigError: both goals at once, a fixed threshold beside a goal, a confidence or held-out images without a
            goal, held-out images for the exit-rate goal (they are main-class images), or a value out of range;
            the message names the option.
    """
    if max_false_exit is not None and exit_rate is not None:
        raise ConfigError(f"calibrate for one goal: max_false_exit={max_false_exit!r} or exit_rate={exit_rate!r}, "
                          "not both")
    if threshold is not None and (max_false_exit is not None or exit_rate is not None):
        goal = f"max_false_exit={max_false_exit!r}" if max_false_exit is not None else f"exit_rate={exit_rate!r}"
        raise ConfigError(f"threshold={threshold!r} and {goal} both set the exit threshold: give a fixed threshold "
                          "or a calibration goal (max_false_exit / exit_rate), not both")
    if max_false_exit is None and exit_rate is None:
        for name, value in (("calibration_confidence", confidence), ("calibration_images", held_out_main or None)):
            if value is not None:
                raise ConfigError(f"{name}={value!r} needs a calibration goal: max_false_exit or exit_rate")
        return None
    if held_out_main and exit_rate is not None:
        raise ConfigError(f"calibration_images={held_out_main!r} counts main-class images only: it serves "
                          "max_false_exit, not exit_rate")
    integer_in("calibration_images", held_out_main, 0)
    goal, target = check_goal(*(("max_false_exit", max_false_exit) if max_false_exit is not None
                                else ("exit_rate", exit_rate)))
    return CalibrationGoal(goal, target, None if confidence is None else check_confidence(confidence),
                           held_out_main)


def check_goal(goal: str, target: float) -> tuple[str, float]:
    """``(goal, target)`` when the goal is known and its target a share in [0, 1) (an exit rate in (0, 1)), else
    :class:`ConfigError` naming it."""
    if goal not in GOALS:
        raise ConfigError(f"unknown calibration goal {goal!r}; known: {', '.join(GOALS)}")
    low_ok = target >= 0 if goal == "max_false_exit" else target > 0
    if not (low_ok and target < 1):  # also rejects NaN
        bounds = "[0, 1)" if goal == "max_false_exit" else "(0, 1)"
        raise ConfigError(f"calibration goal {goal} must be in {bounds}, got {goal}={target!r}")
    return goal, float(target)


def check_confidence(confidence: float) -> float:
    """``confidence`` when it is in (0, 1), else :class:`ConfigError` naming it."""
    if not 0 < confidence < 1:  # also rejects NaN
        raise ConfigError(f"calibration confidence must be in (0, 1), got confidence={confidence!r}")
    return float(confidence)


def cue_names(augment_cues: bool | str | Sequence[str]) -> tuple[str, ...]:
    """The cues an ``augment_cues`` value names, in ``CUES``'s order: ``True``/``"all"`` every one, ``False``/
    ``"none"`` none, else names (a list or comma-separated); an unknown name is a :class:`ConfigError`."""
    if isinstance(augment_cues, bool):
        return CUES if augment_cues else ()
    names = [n.strip() for n in augment_cues.split(",")] if isinstance(augment_cues, str) else list(augment_cues)
    if names in (["all"], ["none"]):
        return CUES if names == ["all"] else ()
    unknown = [n for n in names if n not in CUES]
    if unknown:
        raise ConfigError(f"augment_cues: unknown cue {unknown[0]!r}; known: {', '.join(CUES)} (or all, none)")
    return tuple(c for c in CUES if c in names)
