"""Early-exit models to LiteRT, in two deployable forms.

- **single**: one ``.tflite`` whose graph branches with an ``IF`` op. It is a Keras 3 model whose ``call``
  runs the stem and the exit head, then ``keras.ops.cond`` runs the rest only when the exit does not
  fire; Keras's own LiteRT export (``model.export(path, format="litert")``) keeps both branches on
  XNNPACK. (A ``tf.Module`` with ``tf.cond`` through TFLiteConverter fails at run time, or, with frozen
  variables, runs ~9x slower: avoid.)
- **chained**: two ``.tflite`` segments run one after the other by Python: ``stem`` (image → features
  at the exit point and the exit's probabilities) and ``rest`` (features → main-class probabilities).
  Both are converted at a fixed batch of 1, as the single file is: with a free batch dimension the
  converter flattens through ``SHAPE``/``STRIDED_SLICE``/``PACK``/``RESHAPE`` (four ops per segment that
  XNNPACK does not take, which cut each segment into several delegate partitions).

For the per-path breakdown (:mod:`convbench.early_exit.paths`), :func:`export_parts` writes each part
alone as a plain batch-1 file: the stem, the exit head, the rest, and the backbone (stem and rest in one
graph, no exit: the denominator of the analytic ideal, with the early-exit model's own weights).

The threshold is a **runtime input** of the single file (``threshold``, shape ``(1,)``) and a plain
number in the chained runner, so neither form bakes it in. Both forms are batch 1 (the deployment
case). The single file's one output is ``[P(main), P(redundant), p_1 … p_{C-1}]`` with the main-class
probabilities left at 0 when the image exits. Every file gets a model card; Flex (TF) ops are refused
at conversion and checked again in the written file (``card.early_exit.ops`` lists the ops).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from tensorflow.lite.python.convert_phase import ConverterError

from convbench.artifacts import ModelCard, Provenance, read_card, write_card
from convbench.errors import ConfigError, ModelError
from convbench.export.exporter import ExportNote, ExportResult, register_card_exporter
from convbench.export.modes import QuantizeMode
from convbench.export.tflite import check_ops, tflite_ops
from convbench.io import atomic_path, sha256_file
from convbench.models.early_exit import EXIT_REDUNDANT, EarlyExitModel, Segments
from convbench.train.evaluation import load_model
from convbench.vocabulary import DEFAULT_THRESHOLD, EARLY_EXIT_FORMS

SINGLE_FILE = "early_exit.tflite"
STEM_FILE = "early_exit_stem.tflite"
REST_FILE = "early_exit_rest.tflite"
PART_FILES = {"stem": "early_exit_part_stem.tflite", "exit_head": "early_exit_part_exit_head.tflite",
              "rest": "early_exit_part_rest.tflite", "backbone": "early_exit_part_backbone.tflite",
              "call": "early_exit_part_call.tflite"}
# Ops the single file's main graph may hold besides the stem's and the exit head's: reading P(redundant) and the
# threshold, the comparison, the branch and the joined output (builtin kernels, outside XNNPACK, none of them compute)
BRANCH_GLUE_OPS = frozenset({"STRIDED_SLICE", "GREATER_EQUAL", "IF", "CONCATENATION"})


@dataclass(frozen=True)
class EarlyExitExport:
    """The files :func:`export_early_exit` wrote (``None`` for a form not asked for)."""

    single: Path | None
    stem: Path | None
    rest: Path | None


class BranchingEarlyExit(keras.Model):
    """Batch-1 inference model: ``(image (1, H, W, C), threshold (1,))`` → ``(1, 2 + C-1)``.

    Runs the stem and the exit head; when P(redundant) ≥ threshold the rest is skipped (``keras.ops.cond``)
    and the main-class probabilities are zeros.
    """

    def __init__(self, segments: Segments, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stem = segments.stem
        self.exit_head = segments.exit_head
        self.rest = segments.rest
        self.main_classes = int(segments.rest.output.shape[-1])

    def call(self, image: Any, threshold: Any) -> Any:
        features = self.stem(image)
        exit_probs = self.exit_head(features)  # (1, 2)
        exits = ops.greater_equal(exit_probs[0, EXIT_REDUNDANT], threshold[0])
        main_probs = ops.cond(exits, lambda: ops.zeros((1, self.main_classes), exit_probs.dtype),
                              lambda: self.rest(features))  # (1, C-1)
        return ops.concatenate([exit_probs, main_probs], axis=-1)


@dataclass(frozen=True)
class PartFiles:
    """The parts :func:`export_parts` wrote, each a plain batch-1 ``.tflite`` with a card (``early_exit.segment``
    names the part): ``stem`` image → features; ``exit_head`` features → ``(P(main), P(redundant))``; ``rest``
    features → main-class probabilities; ``backbone`` image → main-class probabilities (no exit); ``call`` a
    one-op model (a 1x1 convolution of one value) whose time is the fixed cost of an interpreter call."""

    stem: Path
    exit_head: Path
    rest: Path
    backbone: Path
    call: Path


def export_early_exit(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
                      forms: tuple[str, ...] = EARLY_EXIT_FORMS, *,
                      single_file: str | os.PathLike[str] | None = None) -> EarlyExitExport:
    """Export a trained early-exit ``.keras`` model (with its card) to LiteRT, each file with a card.

    Always converts (whether earlier files are still current is the study's step cache's question, not this
    function's); each card records the source model's SHA-256.

    Args:
        model_path: an early-exit model written by :func:`convbench.early_exit.training.train_early_exit`.
        out_dir: where to write; defaults to the model's folder.
        forms: ``"single"`` (one file with an ``IF`` op) and/or ``"chained"`` (stem + rest).
        single_file: where the single file goes (default ``out_dir/early_exit.tflite``).

    Raises:
        ModelError: not an early-exit model, an unknown form, or a conversion that needs Flex ops.
    """
    unknown = [f for f in forms if f not in EARLY_EXIT_FORMS]
    if unknown or not forms:
        raise ModelError(f"unknown early-exit form(s) {unknown or list(forms)}; expected some of "
                         f"{', '.join(EARLY_EXIT_FORMS)}")
    model, card = load_early_exit(model_path)
    out = Path(out_dir) if out_dir is not None else Path(model_path).parent
    single = Path(single_file) if single_file is not None else out / SINGLE_FILE
    files = {"single": (single,), "chained": (out / STEM_FILE, out / REST_FILE)}
    segments = model.segments()
    source = _provenance(model_path, card)
    calibrated = card.early_exit.calibration  # a threshold chosen on validation for a goal: the files default to it
    settings = {"threshold": "runtime input",
                "default_threshold": calibrated["threshold"] if calibrated else DEFAULT_THRESHOLD,
                "source_sha256": source.sha256}
    if "single" in forms:
        _convert(_branching(segments, card.input_shape), single, _signature(card.input_shape), card,
                 {**settings, "form": "single", "output": "[P(main), P(redundant), main probabilities]"}, source)
    if "chained" in forms:
        features = segments.stem.output
        stem = keras.Model(segments.stem.input, [features, segments.exit_head(features)], name="early_exit_stem")
        _convert(stem, out / STEM_FILE, _batch_one(stem), card, {**settings, "form": "chained", "segment": "stem",
                                                                 "outputs": ("features", "exit"),
                                                                 "rest_file": REST_FILE}, source)
        _convert(segments.rest, out / REST_FILE, _batch_one(segments.rest), card,
                 {**settings, "form": "chained", "segment": "rest", "outputs": ("main",)}, source)
    return EarlyExitExport(*(files[form][i] if form in forms else None for form, i in
                             (("single", 0), ("chained", 0), ("chained", 1))))


def export_parts(model_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> PartFiles:
    """Write each part of a trained early-exit ``.keras`` model as its own plain batch-1 ``.tflite`` (with a card).

    Not a deployable form: the files exist to time each part alone (how much of the backbone's time the stem,
    the exit head and the rest take, what cutting the backbone in two costs, and what one interpreter call costs
    by itself: every part timed alone pays one, which the breakdown takes out again). The weights are the model's
    own; each part is the same sub-model the deployed forms are built from (:meth:`EarlyExitModel.segments`),
    so a part's ops are exactly the ones the deployed files run for it.

    Raises:
        ModelError: not an early-exit model, or a conversion that needs Flex ops.
    """
    model, card = load_early_exit(model_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    segments = model.segments()
    features = segments.stem.output
    backbone = keras.Model(segments.stem.input, segments.rest(features), name="early_exit_backbone")
    one = keras.Input((1, 1, 1), name="one")
    call = keras.Model(one, keras.layers.Conv2D(1, 1, name="one_op")(one), name="early_exit_call")
    source = _provenance(model_path, card)
    feature_shape = tuple(int(d) for d in features.shape[1:])
    parts = {"stem": (segments.stem, card.input_shape, "features"),
             "exit_head": (segments.exit_head, feature_shape, "exit"),
             "rest": (segments.rest, feature_shape, "main"), "backbone": (backbone, card.input_shape, "main"),
             "call": (call, (1, 1, 1), "one value")}
    for name, (part, input_shape, output) in parts.items():
        _convert(part, out / PART_FILES[name], _batch_one(part), card.evolve(input_shape=input_shape),
                 {"source_sha256": source.sha256, "segment": name, "outputs": (output,)}, source)
    return PartFiles(**{name: out / PART_FILES[name] for name in parts})


def graph_ops(content: bytes) -> dict[str, list[str]]:
    """Each subgraph's operators in execution order, by subgraph name, from a ``.tflite`` file's bytes.

    What tells whether a file does more work than its parts: the single file's ``IF`` branches are subgraphs of
    their own, which :func:`~convbench.export.tflite.tflite_ops` (the file's operator codes) does not separate.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    codes = tflite_ops(content)  # indexed by each operator's opcode index
    graphs = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        name = (graph.Name() or b"").decode() or f"subgraph{s}"
        graphs[name] = [codes[graph.Operators(o).OpcodeIndex()] for o in range(graph.OperatorsLength())]
    return graphs


def early_exit_card(model_path: str | os.PathLike[str]) -> ModelCard:
    """The card of an early-exit ``.keras`` model; :class:`ModelError` for a missing file or a plain model."""
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    card = read_card(path)
    if card.early_exit is None:
        raise ModelError(f"{path} is a plain {card.arch} model, not an early-exit model (no early_exit settings in "
                         f"its card); train one with `convbench early-exit train`")
    return card


def load_early_exit(model_path: str | os.PathLike[str]) -> tuple[EarlyExitModel, ModelCard]:
    """An early-exit ``.keras`` model and its card; :class:`ModelError` for anything else (e.g. a plain model)."""
    early_exit_card(model_path)  # a plain model is refused before seconds of loading
    model, card = load_model(model_path)
    if not isinstance(model, EarlyExitModel):
        raise ModelError(f"{model_path} holds a {type(model).__name__}, not an early-exit model")
    return model, card


def _branching(segments: Segments, input_shape: tuple[int, int, int]) -> BranchingEarlyExit:
    model = BranchingEarlyExit(segments, name="early_exit_single")
    model(np.zeros((1, *input_shape), np.float32), np.array([DEFAULT_THRESHOLD], np.float32))  # build before export
    return model


def _provenance(model_path: str | os.PathLike[str], card: ModelCard) -> Provenance:
    """The ``.keras`` model an exported file comes from (absolute: readable from anywhere) and its SHA-256."""
    return Provenance(str(Path(model_path).absolute()), sha256_file(model_path), card.metrics)


def _batch_one(model: keras.Model) -> list[Any]:
    """A batch-1 input signature for a one-input model (see the module docstring for why the batch is fixed)."""
    return [tf.TensorSpec((1, *model.input.shape[1:]), tf.float32, name=model.input.name)]


def _signature(input_shape: tuple[int, int, int]) -> list[Any]:
    return [tf.TensorSpec((1, *input_shape), tf.float32, name="image"),
            tf.TensorSpec((1,), tf.float32, name="threshold")]


def _convert(model: keras.Model, path: Path, signature: list[Any] | None, card: ModelCard,
             settings: dict[str, Any], source: Provenance) -> Path:
    """Keras's LiteRT export restricted to builtin ops, written atomically with its card (which names the ``.keras``
    model it came from: :mod:`convbench.early_exit.paths` exports the parts from it)."""
    builtins_only = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    started = time.perf_counter()
    with atomic_path(path) as tmp:
        target = tmp.with_suffix(".tflite")  # Keras insists on the suffix
        try:
            model.export(target, format="litert", verbose=False, input_signature=signature, target_spec=builtins_only)
        except ConverterError as e:
            raise ModelError(f"{path}: LiteRT conversion failed: {str(e).strip().splitlines()[0]}") from None
        ops_used = sorted(set(check_ops(target.read_bytes(), allow_flex=False, name=path.name)))
        target.rename(tmp)
    write_card(path, card.evolve(format="tflite", quantize="none", sha256=sha256_file(path),
                                 source=source,
                                 early_exit=replace(card.early_exit, **settings, ops=tuple(ops_used)),
                                 extra={"size_bytes": path.stat().st_size,  # as every exported file's card says
                                        "conversion_seconds": round(time.perf_counter() - started, 3)}))
    return path


@register_card_exporter
def _export_deployed(model_path: Path, card: ModelCard, file_format: str, mode: QuantizeMode, out: Path,
                     notes: tuple[str, ...]) -> ExportResult | None:
    """What :func:`convbench.export.export` writes for an early-exit model (``None``: not one): two outputs and a
    threshold make it its single LiteRT file (an ``IF`` op)."""
    if card.early_exit is None:
        return None
    if file_format != "tflite" or mode.mode != "none":
        raise ConfigError(f"{model_path} is an early-exit model: it exports to tflite with quantize='none' only "
                          f"(the single file with an IF op), got to={file_format!r}, quantize={mode.requested!r}")
    notes += ("early-exit file: parity is not checked here (its decisions are compared with Keras by "
              "`convbench early-exit eval`)",)
    warnings.warn(notes[-1], ExportNote, stacklevel=4)
    path = export_early_exit(model_path, out.parent, forms=("single",), single_file=out).single
    if path is None:
        raise ModelError(f"{model_path}: the single early-exit file was not written")
    return ExportResult(path, read_card(path), notes)
