"""Early-exit models in LiteRT: one runner per deployed form, both on the :class:`~convbench.runtime.base.Runner`
contract.

- :class:`SingleFileEarlyExitRunner`: the one ``.tflite`` with an ``IF`` op; the graph itself skips the
  rest of the network for an image that exits (the threshold is a runtime input of the file).
- :class:`ChainedEarlyExitRunner`: the stem segment, then (only when the exit does not fire) the rest
  segment fed with the stem's features, decided in Python. The features go from one interpreter to the
  other in one copy between their own buffers (``np.copyto`` of two ``Interpreter.tensor`` views), not
  ``get_tensor`` (a copy into a new array) then ``set_tensor`` (a second copy); LiteRT's Python API has no
  way to let two interpreters share a buffer, so one copy is the least there is.

``invoke()`` runs the whole decision for the image set by ``set_input()``; afterwards ``exited`` says
which path it took, :meth:`EarlyExitRunner.exit_probabilities` and :meth:`EarlyExitRunner.main_probabilities`
give the raw outputs, and ``get_output()`` gives the decision over the C classes as a probability vector:
one-hot on the redundant class (C-1) when the image exited, else the main head's probabilities with 0
for the redundant class; its argmax is the deployed decision.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from convbench.artifacts import ModelCard, read_card
from convbench.errors import ConfigError, ModelError
from convbench.runtime.base import Runner, register_card_runner
from convbench.runtime.litert import litert_version, open_interpreter
from convbench.vocabulary import DEFAULT_THRESHOLD

_ALWAYS_EXIT, _NEVER_EXIT = 0.0, math.inf  # forced paths, for timing each path on its own


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in (0, 1), else :class:`ConfigError` naming it."""
    if not 0 < threshold < 1:  # also rejects NaN
        raise ConfigError(f"threshold must be between 0 and 1 (exclusive), got threshold={threshold!r}")
    return float(threshold)


class EarlyExitRunner(Runner):
    """Shared part of both forms: the threshold, the decision and the C-class output.

    Args:
        path: the single file, or the chained form's stem file (``early_exit_stem.tflite``).
        threads: LiteRT intra-op threads.
        threshold: exit when P(redundant) ≥ threshold; settable later (:attr:`threshold`).
    """

    name = "litert"
    delegate = "xnnpack"
    form: ClassVar[str]

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1, card: ModelCard | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__(path, threads=threads, card=card)
        settings = self.card.early_exit
        if settings is None or settings.form != self.form:
            found = "no early_exit settings" if settings is None else f"form {settings.form!r}"
            raise ModelError(f"{self.path}: not the {self.form} form of an early-exit model (its card has {found})")
        self.num_classes = len(self.card.class_names)
        self._threshold = np.float32(check_threshold(threshold))
        self._exited = False
        self._exit_probs = np.zeros(2, np.float32)
        self._main_probs = np.zeros(self.num_classes - 1, np.float32)

    @property
    def version(self) -> str:
        return litert_version()

    @property
    def threshold(self) -> float:
        return float(self._threshold)

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._set_threshold(np.float32(check_threshold(value)))

    @contextlib.contextmanager
    def forced_path(self, path: str) -> Iterator[None]:
        """Within the block every image takes ``path`` (``"exit"`` or ``"full"``), to time each path alone."""
        if path not in ("exit", "full"):
            raise ConfigError(f"path must be 'exit' or 'full', got path={path!r}")
        kept = self._threshold
        self._set_threshold(np.float32(_ALWAYS_EXIT if path == "exit" else _NEVER_EXIT))
        try:
            yield
        finally:
            self._set_threshold(kept)

    @property
    def exited(self) -> bool:
        """Whether the last invoke's image exited (P(redundant) ≥ threshold)."""
        self._sync()
        return self._exited

    def exit_probabilities(self) -> np.ndarray:
        """``(P(main), P(redundant))`` of the last invoke."""
        self._sync()
        return self._exit_probs.copy()

    def main_probabilities(self) -> np.ndarray | None:
        """The main head's C-1 probabilities of the last invoke; ``None`` when the image exited (not computed)."""
        self._sync()
        return None if self._exited else self._main_probs.copy()

    def _get_output(self) -> np.ndarray:
        self._sync()
        decision = np.zeros((1, self.num_classes), np.float32)
        if self._exited:
            decision[0, -1] = 1.0
        else:
            decision[0, :-1] = self._main_probs
        return decision

    def _sync(self) -> None:
        """Fetch the last invoke's outputs where ``invoke`` itself did not (kept out of the timed call)."""

    def _set_threshold(self, value: np.float32) -> None:
        self._threshold = value

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, form={self.form!r}, threshold={self.threshold:g})"


class SingleFileEarlyExitRunner(EarlyExitRunner):
    """The single ``.tflite`` (inputs ``image`` and ``threshold``; output ``[P(main), P(redundant), main probs]``)."""

    form = "single"
    _interpreter = None

    def _load(self) -> None:
        self._interpreter = open_interpreter(self.path, self.threads)
        # told apart by rank: image (1, H, W, C), threshold (1,)
        inputs = {len(d["shape"]): d["index"] for d in self._interpreter.get_input_details()}
        self._image_index, self._threshold_index = inputs[4], inputs[1]
        self._out_index = self._interpreter.get_output_details()[0]["index"]
        self._invoke = self._interpreter.invoke
        self._set_threshold(self._threshold)

    def _set_threshold(self, value: np.float32) -> None:
        super()._set_threshold(value)
        if self._interpreter is not None:
            self._interpreter.set_tensor(self._threshold_index, np.array([value], np.float32))

    def _set_input(self, x: np.ndarray) -> None:
        self._interpreter.set_tensor(self._image_index, x)

    def invoke(self) -> None:
        self._invoke()

    def _sync(self) -> None:
        out = self._interpreter.get_tensor(self._out_index)[0]
        self._exit_probs, self._main_probs = out[:2], out[2:]
        self._exited = bool(out[1] >= self._threshold)  # the graph's own comparison, in float32


class ChainedEarlyExitRunner(EarlyExitRunner):
    """The stem segment (``path``), then the rest segment (named in the stem's card) for images that do not exit."""

    form = "chained"

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1, card: ModelCard | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__(path, threads=threads, card=card, threshold=threshold)
        segment = self.card.early_exit.segment
        if segment != "stem":
            raise ModelError(f"{self.path}: the chained form opens from its stem segment, this is the {segment!r} one")
        self.rest_path = self.path.with_name(self.card.early_exit.rest_file or "")
        read_card(self.rest_path)  # ModelError now rather than at load when the rest segment is missing

    def _load(self) -> None:
        self._stem = open_interpreter(self.path, self.threads)
        self._rest = open_interpreter(self.rest_path, self.threads)
        self._image_index = self._stem.get_input_details()[0]["index"]
        outputs = {len(d["shape"]): d["index"] for d in self._stem.get_output_details()}  # features rank 4, exit 2
        self._features_index, self._exit_index = outputs[4], outputs[2]
        self._rest_in = self._rest.get_input_details()[0]["index"]
        self._rest_out = self._rest.get_output_details()[0]["index"]
        # view factories, bound once; a view itself must not outlive the statement that uses it (LiteRT refuses
        # to invoke while one is alive, since an invoke may move the buffer)
        self._features, self._rest_input = self._stem.tensor(self._features_index), self._rest.tensor(self._rest_in)
        self._exit_view = self._stem.tensor(self._exit_index)
        self._stem_invoke, self._rest_invoke = self._stem.invoke, self._rest.invoke

    def _set_input(self, x: np.ndarray) -> None:
        self._stem.set_tensor(self._image_index, x)

    def invoke(self) -> None:
        self._stem_invoke()
        self._exited = bool(self._exit_view()[0, 1] >= self._threshold)  # (P(main), P(redundant))
        if not self._exited:
            self.pass_features()
            self._rest_invoke()

    def pass_features(self) -> None:
        """Copy the stem's features into the rest segment's input: the one copy the chained form adds (public so
        that the per-path breakdown times exactly this call)."""
        np.copyto(self._rest_input(), self._features())

    def _sync(self) -> None:
        self._exit_probs = self._stem.get_tensor(self._exit_index)[0]
        if not self._exited:
            self._main_probs = self._rest.get_tensor(self._rest_out)[0]


RUNNERS: dict[str, type[EarlyExitRunner]] = {"single": SingleFileEarlyExitRunner, "chained": ChainedEarlyExitRunner}


@register_card_runner
def _deployed(path: Path, runtime: str, threads: int, card: ModelCard) -> EarlyExitRunner | None:
    """What :func:`convbench.runtime.open_runner` opens for an exported early-exit file (``None``: not one)."""
    settings = card.early_exit
    if settings is None or settings.form is None:
        return None
    if runtime != "litert":
        raise ModelError(f"{path}: an exported early-exit file runs in litert only, not {runtime}")
    if settings.segment == "rest":
        raise ModelError(f"{path}: the rest segment of a chained early-exit model runs after its stem: open the stem "
                         f"segment (beside it), which runs both")
    return RUNNERS[settings.form](path, threads=threads, card=card)


def open_early_exit_runner(path: str | os.PathLike[str], *, threads: int = 1,
                           threshold: float | None = None) -> EarlyExitRunner:
    """The runner of an exported early-exit file (the single file or the chained form's stem), not loaded yet.

    ``threshold``: exit when P(redundant) ≥ it; ``None``: the file's default (its calibrated threshold, if any).

    Raises:
        ModelError: a missing file, a file without an early-exit card, or the chained form's rest segment.
        ConfigError: threshold outside (0, 1), threads < 1.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    card = read_card(path)
    form = card.early_exit.form if card.early_exit is not None else None
    if form not in RUNNERS:
        raise ModelError(f"{path}: not an exported early-exit model (its card names no early-exit form)")
    if threshold is None:
        threshold = card.early_exit.default_threshold or DEFAULT_THRESHOLD
    return RUNNERS[form](path, threads=threads, card=card, threshold=threshold)
