"""Early-exit networks: a backbone with a cheap exit branch that stops "redundant" images early.

Reference setting: VGG-19 with an exit block after its first conv block. An exit may follow any point its
backbone declares in the registry (:attr:`~convbench.models.ModelDefaults.exit_points`: VGG-19's ``block1`` …
``block5``, the MobileNets' and AlexNet's ``stage{i}``), so no code here names an architecture. The exit block
(MaxPooling, Flatten, Dense layers shaped like VGG-19's head, a 2-way softmax) tells *main* images (one of the C-1
classes of interest) from *redundant* ones (class C-1: anything else); only images that do not exit
run the rest of the network, whose head classifies the C-1 main classes.

Training minimises, per image, ``L = L1 + δ·L2`` averaged over the batch: L1 is the exit's binary
cross-entropy (main vs redundant), L2 the main head's cross-entropy over the C-1 main classes, and
δ = 0 for redundant images (their main-head output is ignored), 1 for main images. The model computes
this in its own :meth:`EarlyExitModel.compute_loss`, so ``fit``/``evaluate`` work as usual.

Accuracy over the C classes follows the deployed decision rule: a redundant image is correct when the
exit calls it redundant; a main image is correct when the exit passes it *and* the main head names its
class. Exit precision and recall treat "redundant" (the exit firing) as the positive class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers, ops

from convbench.errors import ModelError
from convbench.models._layers import make_divisible
from convbench.models._registry import ExitPoint, build, list_models
from convbench.models._registry import exit_points as declared_exit_points
from convbench.models.macs import count_macs
from convbench.vocabulary import DEFAULT_EXIT_HEAD

EXIT_OUTPUT, MAIN_OUTPUT = "exit", "main"  # keys of the model's output dict
EXIT_REDUNDANT = 1  # column of P(redundant) in the exit's softmax (column 0: P(main))


@dataclass(frozen=True)
class Segments:
    """The three parts of an early-exit network (see :meth:`EarlyExitModel.segments`).

    ``stem``: image → features at the exit point; ``exit_head``: features → ``(P(main), P(redundant))``;
    ``rest``: features → main-class probabilities (the rest of the backbone and its head).
    """

    stem: keras.Model
    exit_head: keras.Model
    rest: keras.Model


@dataclass(frozen=True)
class MacSplit:
    """MACs per image of each part; the backbone (stem + rest) is the network without its exit."""

    stem: int
    exit_head: int
    rest: int

    @property
    def backbone(self) -> int:
        return self.stem + self.rest

    @property
    def stem_share(self) -> float:
        """s: the share of the backbone's MACs spent up to the exit point."""
        return self.stem / self.backbone

    @property
    def exit_share(self) -> float:
        """h: the exit head's MACs as a share of the backbone's."""
        return self.exit_head / self.backbone


@keras.saving.register_keras_serializable(package="convbench")
class EarlyExitModel(keras.Model):
    """A functional model with outputs ``{"exit": (N, 2), "main": (N, C-1)}`` trained on ``L = L1 + δ·L2``.

    Labels are integers over C classes: ``0 … C-2`` the main classes, ``C-1`` redundant.

    Args (besides the functional ``inputs``/``outputs``/``name``):
        exit_after: the exit point the exit follows (``block1``, ``stage2`` …: see :func:`exit_points`).
        exit_layer: the backbone layer whose output feeds the exit (the last layer of ``exit_after``'s block);
            ``None`` (models saved before exits could follow any point, all VGG-19): ``{exit_after}_pool``.
        threshold: exit when P(redundant) ≥ threshold (used by the metrics; deployment sets its own).
        l1_weight, l2_weight: weights of L1 and L2 in the loss (the reference: 1 and 1).
    """

    def __init__(self, *args: Any, exit_after: str, exit_layer: str | None = None, threshold: float = 0.5,
                 l1_weight: float = 1.0, l2_weight: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_after = exit_after
        self.exit_layer = exit_layer or f"{exit_after}_pool"
        self.threshold = float(threshold)
        self.l1_weight = float(l1_weight)
        self.l2_weight = float(l2_weight)
        self.l1_tracker = keras.metrics.Mean(name="l1")
        self.l2_tracker = keras.metrics.Mean(name="l2")
        self.exit_accuracy = keras.metrics.Mean(name="exit_accuracy")
        self.main_accuracy = keras.metrics.Mean(name="main_accuracy")
        self.overall_accuracy = keras.metrics.Mean(name="accuracy")
        self.exit_precision = keras.metrics.Precision(name="exit_precision")
        self.exit_recall = keras.metrics.Recall(name="exit_recall")

    @property
    def num_classes(self) -> int:
        """C: the main classes plus the redundant class."""
        return int(self.output[MAIN_OUTPUT].shape[-1]) + 1

    def mac_split(self) -> MacSplit:
        """MACs per image of the stem, the exit head and the rest (from :func:`~convbench.models.macs.count_macs`)."""
        names = [layer.name for layer in self.layers]
        stem = set(names[: names.index(self.exit_layer) + 1])  # the exit point's ancestors come first
        macs = {"stem": 0, "exit_head": 0, "rest": 0}
        for row in count_macs(self):
            part = "exit_head" if row.name.startswith("exit_") else "stem" if row.name in stem else "rest"
            macs[part] += row.macs
        return MacSplit(**macs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "exit_after": self.exit_after, "exit_layer": self.exit_layer,
                "threshold": self.threshold,
                "l1_weight": self.l1_weight, "l2_weight": self.l2_weight}

    # -- training --------------------------------------------------------------------------------
    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        """``l1_weight·mean(L1) + l2_weight·mean(δ·L2)`` over the batch (plus any layer losses)."""
        l1, l2 = loss_terms(y, y_pred[EXIT_OUTPUT], y_pred[MAIN_OUTPUT])  # (N,), (N,) with δ applied
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, l1.dtype), (-1,))
            l1, l2 = l1 * weight, l2 * weight
        l1, l2 = ops.mean(l1), ops.mean(l2)
        batch = ops.shape(y)[0]
        self.l1_tracker.update_state(l1, sample_weight=batch)
        self.l2_tracker.update_state(l2, sample_weight=batch)
        loss = self.l1_weight * l1 + self.l2_weight * l2
        if self.losses:  # regularisers, add_loss
            loss = loss + ops.sum(self.losses)
        return loss

    def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, Any]:
        """Update the decision metrics (unweighted: sample weights weigh the loss only)."""
        redundant, exits, main_correct, correct = decisions(y, y_pred[EXIT_OUTPUT], y_pred[MAIN_OUTPUT],
                                                            self.threshold)
        is_main = ops.cast(ops.logical_not(redundant), "float32")
        self.exit_accuracy.update_state(ops.cast(ops.equal(redundant, exits), "float32"))
        self.main_accuracy.update_state(ops.cast(main_correct, "float32"), sample_weight=is_main)
        self.overall_accuracy.update_state(ops.cast(correct, "float32"))
        self.exit_precision.update_state(ops.cast(redundant, "float32"), ops.cast(exits, "float32"))
        self.exit_recall.update_state(ops.cast(redundant, "float32"), ops.cast(exits, "float32"))
        return self.get_metrics_result()

    # -- deployment --------------------------------------------------------------------------------
    def decision_probabilities(self, x: Any, threshold: float | None = None) -> Any:
        """The deployed decision over the C classes ``(N, C)``: one-hot on the redundant class where the exit fires
        (P(redundant) ≥ ``threshold``, default :attr:`threshold`), else the main head's probabilities and 0 for the
        redundant class. What the exported files' runners output, so a Keras model times and scores alike."""
        outputs = self(x, training=False)
        exit_probs, main_probs = outputs[EXIT_OUTPUT], outputs[MAIN_OUTPUT]  # (N, 2), (N, C-1)
        exits = ops.greater_equal(exit_probs[:, EXIT_REDUNDANT:EXIT_REDUNDANT + 1],
                                  self.threshold if threshold is None else threshold)  # (N, 1)
        passed = ops.concatenate([main_probs, ops.zeros_like(exit_probs[:, :1])], axis=-1)  # (N, C)
        redundant = ops.one_hot(ops.full((ops.shape(x)[0],), self.num_classes - 1, "int32"), self.num_classes,
                                dtype=passed.dtype)  # (N, C)
        return ops.where(exits, redundant, passed)

    def segments(self) -> Segments:
        """Split into stem, exit head and rest: models over a copy of this model's layers and weights.

        The copy matters: cutting a functional graph at an inner tensor re-calls the layers after the cut,
        and a layer called twice can no longer be measured (:func:`~convbench.models.macs.count_macs`).
        """
        twin = type(self).from_config(self.get_config())
        twin.set_weights(self.get_weights())
        features = twin.get_layer(self.exit_layer).output
        return Segments(stem=keras.Model(twin.input, features, name="stem"),
                        exit_head=keras.Model(features, twin.output[EXIT_OUTPUT], name="exit_head"),
                        rest=keras.Model(features, twin.output[MAIN_OUTPUT], name="rest"))


def loss_terms(y: Any, exit_probs: Any, main_probs: Any) -> tuple[Any, Any]:
    """Per-image ``L1`` and ``δ·L2`` for integer labels ``y`` over C = ``main_probs.shape[-1] + 1`` classes.

    L1 = −log P_exit(true side) (the binary cross-entropy of main vs redundant on the 2-way softmax);
    L2 = −log P_main(y) for main images, 0 for redundant ones (δ = 0).
    """
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    redundant_class = ops.shape(main_probs)[-1]
    redundant = ops.equal(y, redundant_class)
    l1 = keras.losses.sparse_categorical_crossentropy(ops.cast(redundant, "int32"), exit_probs)
    main_target = ops.where(redundant, 0, y)  # any valid index: δ = 0 removes the term
    l2 = keras.losses.sparse_categorical_crossentropy(main_target, main_probs)
    return l1, ops.where(redundant, ops.zeros_like(l2), l2)


def decisions(y: Any, exit_probs: Any, main_probs: Any, threshold: float) -> tuple[Any, Any, Any, Any]:
    """Boolean ``(redundant, exits, main_correct, correct)`` per image under the inference rule.

    ``exits``: P(redundant) ≥ threshold; ``main_correct``: the main head names the true class (main
    images); ``correct``: the C-class decision is right (redundant: exits; main: passes and main_correct).
    """
    y = ops.reshape(ops.cast(y, "int32"), (-1,))
    redundant = ops.equal(y, ops.shape(main_probs)[-1])
    exits = ops.greater_equal(exit_probs[:, EXIT_REDUNDANT], threshold)
    main_correct = ops.equal(ops.cast(ops.argmax(main_probs, axis=-1), "int32"), y)
    correct = ops.where(redundant, exits, ops.logical_and(ops.logical_not(exits), main_correct))
    return redundant, exits, main_correct, correct


def exit_points(backbone: str) -> list[str]:
    """The points of the registered ``backbone`` an exit can follow, in graph order (``block1`` … for VGG-19)."""
    return [point.name for point in declared_exit_points(backbone)]


def exit_point(backbone: str, exit_after: str) -> ExitPoint:
    """The declared exit point ``exit_after`` of ``backbone``.

    Raises:
        ModelError: an unknown backbone, one that declares no exit point, or a point it does not have (listing
            the ones it has).
    """
    points = {point.name: point for point in declared_exit_points(backbone)}
    if not points:
        offering = [name for name in list_models() if declared_exit_points(name)]
        raise ModelError(f"{backbone} has no exit point an early exit could follow; backbones with exit points: "
                         f"{', '.join(offering)}")
    if exit_after not in points:
        raise ModelError(f"unknown exit position exit_after={exit_after!r}; {backbone} has: {', '.join(points)}")
    return points[exit_after]


@dataclass(frozen=True)
class ExitPointInfo:
    """One exit point of a backbone as built: where the exit hangs and what the split costs (``convbench early-exit
    points``). ``features``: the feature map ``(H, W, C)`` the exit sees; ``macs``: the :class:`MacSplit`."""

    name: str
    block: str
    layer: str
    features: tuple[int, ...]
    macs: MacSplit


def describe_exit_points(backbone: str, input_shape: tuple[int, int, int], width: float = 1.0,
                         num_classes: int = 3, **backbone_options: Any) -> list[ExitPointInfo]:
    """Build ``backbone`` with an exit at each of its points and describe each (layer, features, MAC split).

    Raises:
        ModelError: as :func:`early_exit` (a backbone without exit points included).
    """
    rows = []
    for point in declared_exit_points(backbone) or (exit_point(backbone, ""),):  # none: exit_point raises
        model = early_exit(input_shape, num_classes, width, backbone=backbone, exit_after=point.name,
                           **backbone_options)
        shape = tuple(int(d) for d in model.get_layer(model.exit_layer).output.shape[1:])
        rows.append(ExitPointInfo(point.name, point.block, model.exit_layer, shape, model.mac_split()))
    return rows


def exit_layer(model: keras.Model, point: ExitPoint) -> str:
    """The layer of ``model`` whose output an exit at ``point`` takes: the last (in graph order) of the layers
    named ``point.block`` or ``point.block_*``."""
    found = [layer.name for layer in model.layers
             if layer.name == point.block or layer.name.startswith(f"{point.block}_")]
    if not found:
        raise ModelError(f"{model.name}: exit point {point.name!r} names block {point.block!r}, which has no layer "
                         f"in the built model")
    return found[-1]


def early_exit(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
               backbone: str = "vgg19", exit_after: str = "block1", head: tuple[int, ...] = DEFAULT_EXIT_HEAD,
               dropout: float = 0.5, threshold: float = 0.5, l1_weight: float = 1.0, l2_weight: float = 1.0,
               name: str | None = None, **backbone_options: Any) -> EarlyExitModel:
    """A backbone (VGG-19 by default) with an exit block after its exit point ``exit_after``.

    Exit block: ``exit_pool`` (2x2 max pooling) → ``exit_flatten`` → ``exit_fc1``, ``exit_fc2``, … (ReLU,
    ``head`` units scaled by ``width`` like VGG-19's fc layers, dropout after each) → ``exit_predictions``
    (2-way softmax: P(main), P(redundant)). The backbone's own head classifies the C-1 main classes.

    Args:
        input_shape: ``(H, W, C)`` of the input.
        num_classes: C, the main classes plus the one redundant class (at least 3).
        width: the backbone's width multiplier α, also applied to the exit's hidden layers.
        backbone: a registered architecture that declares exit points (:func:`exit_points`).
        exit_after: the point the exit follows (``block1`` … ``block5`` for VGG-19, ``stage1`` … for the others).
        head: hidden units of the exit's Dense layers before width scaling (VGG-19's fc1, fc2); ``()`` leaves
            MaxPool, Flatten and the softmax Dense alone (the reference study's exit block as it describes it).
        dropout: dropout rate after every hidden Dense layer, in the backbone's head and the exit's.
        threshold, l1_weight, l2_weight: see :class:`EarlyExitModel`.
        name: model name; defaults to ``early_exit_{backbone model name}_{exit_after}``.
        **backbone_options: further options of the backbone builder (``batch_norm``, ``pooling`` …).

    Raises:
        ModelError: fewer than 3 classes, a backbone without exit points, an exit position the backbone does not
            have, or a bad backbone option.

    Example:
        >>> model = early_exit((32, 32, 1), num_classes=11, width=0.25)
        >>> model.compile("adam"); model.fit(images, labels)  # labels 0-9 digits, 10 redundant
    """
    if num_classes < 3:
        raise ModelError(f"an early-exit model needs at least 2 main classes plus the redundant one, "
                         f"got num_classes={num_classes!r}")
    point = exit_point(backbone, exit_after)  # before building: a bad position fails at once
    if any(not isinstance(units, int) or isinstance(units, bool) or units < 1 for units in head):
        raise ModelError(f"exit head: hidden units must be positive integers, got head={tuple(head)!r}")
    base = build(backbone, input_shape, num_classes - 1, width, dropout=dropout, **backbone_options)
    after = exit_layer(base, point)

    x = layers.MaxPooling2D(2, strides=2, padding="same", name="exit_pool")(base.get_layer(after).output)
    x = layers.Flatten(name="exit_flatten")(x)
    for i, units in enumerate(head, start=1):
        x = layers.Dense(make_divisible(units * width), activation="relu", name=f"exit_fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"exit_fc{i}_dropout")(x)
    exit_probs = layers.Dense(2, activation="softmax", name="exit_predictions")(x)
    return EarlyExitModel(base.input, {EXIT_OUTPUT: exit_probs, MAIN_OUTPUT: base.output}, exit_after=exit_after,
                          exit_layer=after,
                          threshold=threshold, l1_weight=l1_weight, l2_weight=l2_weight,
                          name=name or f"early_exit_{base.name}_{exit_after}")

