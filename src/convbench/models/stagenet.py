"""StageNet: a searchable family of plain CNNs (a stem, stages of regular or separable convolutions, a head).

References:
    - Chollet: "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017
      (https://arxiv.org/abs/1610.02357) for the separable convolutions.
    - Tan et al.: "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019
      (https://arxiv.org/abs/1807.11626) for the factorized, per-stage search space: each stage
      chooses its own conv type, width and depth.
    - Radosavovic et al.: "Designing Network Design Spaces", CVPR 2020 (https://arxiv.org/abs/2003.13678)
      for describing a network by its stages' widths and depths.

Unlike the fixed-layout architectures of the zoo, StageNet's layout is its options, so a search (or a
person) can make it as small as a task allows: at α = 1 and 48x48 px the default below has 13,410
parameters for two classes; ``stage_channels=(16, 32, 64)``, ``stem_channels=8`` has 4,018.

+------------+-------------------------------------------------+-------------------------------+
| part       | layers                                          | output (48x48 input)          |
+============+=================================================+===============================+
| stem       | 3x3 conv, stride ``stem_stride``, BN, ReLU      | 24x24 x stem_channels·α       |
+------------+-------------------------------------------------+-------------------------------+
| stage 1    | ``depths[0]`` × (k×k conv, BN, ReLU)            | 24x24 x stage_channels[0]·α   |
+------------+-------------------------------------------------+-------------------------------+
| stage i≥2  | downsample by 2 (``max`` pool or the first      | 48 / (stem_stride·2^(i-1))    |
|            | conv's stride), ``depths[i-1]`` × (conv, BN,    | x stage_channels[i-1]·α       |
|            | ReLU)                                           |                               |
+------------+-------------------------------------------------+-------------------------------+
| head       | global pooling (or flatten), dropout, Dense     | num_classes                   |
+------------+-------------------------------------------------+-------------------------------+

Defaults: ``stem_channels=16``, ``stage_channels=(32, 64, 128)``, ``depths=(1, 1, 1)``, separable convs,
3x3 kernels, max pooling between stages, global average pooling. The stem is always a full
convolution: on 1–3 input channels a depthwise step saves almost nothing and leaves each output filter
to mix a single channel (as in :func:`~convbench.models.alexnet.alexnet_separable`). Every conv uses
"same" padding, so the input must only be large enough for the last stage to see one pixel:
``stem_stride · 2^(stages - 1)`` (8 for the default). Channel counts are ``stage_channels · α`` rounded with
the shared ``make_divisible`` to a multiple of 4 (not 8 as the MobileNets: at a few thousand
parameters, steps of 8 channels are too coarse for a search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
from keras import layers

from convbench.errors import ModelError
from convbench.models._layers import batch_normalization, check_options, classifier, make_divisible, model_name
from convbench.models._registry import ModelDefaults, register_model

ARCH = "stagenet"
CHANNEL_DIVISOR = 4  # channel counts are multiples of this after width scaling
STEM_CHANNELS = 16
STAGE_CHANNELS = (32, 64, 128)
STAGE_DEPTHS = (1, 1, 1)
CONV_TYPES = ("separable", "regular")  # the conv layer of a stage: SeparableConv2D or Conv2D
DOWNSAMPLES = ("max", "stride")  # between stages: a 2x2/2 max pool, or stride 2 on the stage's first conv
STEM_STRIDES = (1, 2)
# What an architecture search may vary (convbench.search): every combination builds. The layouts run from
# 1.5 k (separable) to 300 k (regular, depth 2) parameters at α = 1 (two classes); α scales them by about α².
SEARCH_OPTIONS = (("stage_channels", ((8, 16, 32), (16, 32, 64), (8, 16, 32, 64), (16, 32, 64, 128), (32, 64, 128))),
                  ("depths", (1, 2)), ("conv", CONV_TYPES), ("stem_channels", (8, 16)),
                  ("downsample", DOWNSAMPLES), ("pooling", ("avg", "max")))


def min_input_size(stem_stride: int = 2, stages: int = len(STAGE_CHANNELS)) -> int:
    """The smallest input side a layout accepts: its total downsampling (the last stage sees one pixel)."""
    return stem_stride * 2 ** (stages - 1)


DEFAULTS = {ARCH: ModelDefaults(input_size=48, min_input_size=min_input_size(), width_range=(0.25, 1.5),
                                search_options=SEARCH_OPTIONS)}


@dataclass(frozen=True)
class Stage:
    """One stage as built: its conv type, output channels (after α) and number of convs."""

    conv: str
    channels: int
    depth: int


@register_model
def stagenet(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
             classifier_activation: str | None = "softmax", name: str | None = None, pooling: str = "avg",
             dropout: float = 0.0, stem_channels: int = STEM_CHANNELS, stem_stride: int = 2,
             stage_channels: Sequence[int] = STAGE_CHANNELS, depths: int | Sequence[int] = STAGE_DEPTHS,
             conv: str | Sequence[str] = "separable", kernel_size: int = 3, downsample: str = "max") -> keras.Model:
    """StageNet (see the module docstring for the layout and its stage table).

    Args:
        input_shape: ``(H, W, C)`` with H, W ≥ ``stem_stride · 2^(len(stage_channels) - 1)`` and C = 1 or 3.
        num_classes: number of output classes.
        width: the width multiplier α: it scales the stem's and every stage's channels (rounded to a
            multiple of 4, never below 4).
            - If `width < 1.0`, proportionally decreases the number of filters in each layer.
            - If `width > 1.0`, proportionally increases the number of filters in each layer.
            - If `width == 1.0`, ``stem_channels`` and ``stage_channels`` are used as given.
            Defaults to `1.0`.
        classifier_activation: activation of the ``predictions`` layer (``None`` gives logits).
        name: model name; defaults to ``stagenet_{α}_{H}``.
        pooling: ``"avg"`` (default), ``"max"`` or ``"flatten"`` before the classifier.
        dropout: dropout rate before ``predictions`` (0, the default, disables it).
        stem_channels: output channels of the stem conv (before α), ≥ 1.
        stem_stride: 1 or 2 (default): the stem's stride.
        stage_channels: output channels of each stage (before α), one positive integer per stage (named apart
            from :func:`~convbench.train.train`'s ``channels``, the input's).
        depths: convs in each stage: one positive integer per stage (as many as ``stage_channels``), or one
            for every stage.
        conv: ``"separable"`` (default; ``SeparableConv2D``) or ``"regular"`` (``Conv2D``), for every
            stage, or a sequence with one of these per stage.
        kernel_size: odd kernel side of the stage convs (default 3).
        downsample: halve the feature map before stages 2, 3, … with a 2x2/2 ``"max"`` pool (default)
            or with ``"stride"`` 2 on the stage's first conv.

    Returns:
        A functional ``keras.Model``; layers ``stem`` (``_bn``, ``_relu``), ``stage{i}_pool`` (max
        downsampling), ``stage{i}_conv{j}`` (each with ``_bn`` and ``_relu``), the pooling layer
        (``avg_pool``, ``max_pool`` or ``flatten``), ``dropout`` (when > 0) and ``predictions``.

    Raises:
        ModelError: an input smaller than the layout allows, channels other than 1 or 3, or an invalid
            option (naming it and its value).

    Example:
        >>> build("stagenet", (48, 48, 3), 2, width=0.5, stage_channels=(16, 32), depths=(1, 2)).count_params()
    """
    stages = stage_layout(width, stage_channels=stage_channels, depths=depths, conv=conv)
    _check_layout(stem_channels=stem_channels, stem_stride=stem_stride, kernel_size=kernel_size,
                  downsample=downsample)
    check_options(ARCH, input_shape, min_input_size(stem_stride, len(stages)),
                  classifier_activation=classifier_activation, pooling=pooling, dropout=dropout)

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(make_divisible(stem_channels * width, CHANNEL_DIVISOR), 3, strides=stem_stride,
                      padding="same", use_bias=False, name="stem")(inputs)
    x = batch_normalization("stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)  # (H/stem_stride, W/stem_stride, stem channels)
    for stage_id, stage in enumerate(stages, start=1):
        halve = stage_id > 1
        if halve and downsample == "max":
            x = layers.MaxPooling2D(2, padding="same", name=f"stage{stage_id}_pool")(x)
        for conv_id in range(1, stage.depth + 1):
            strides = 2 if halve and downsample == "stride" and conv_id == 1 else 1
            layer = layers.SeparableConv2D if stage.conv == "separable" else layers.Conv2D
            prefix = f"stage{stage_id}_conv{conv_id}"
            x = layer(stage.channels, kernel_size, strides=strides, padding="same", use_bias=False, name=prefix)(x)
            x = batch_normalization(f"{prefix}_bn")(x)
            x = layers.ReLU(name=f"{prefix}_relu")(x)  # (H / (stem_stride · 2^(stage_id-1)), …, stage.channels)

    outputs = classifier(x, num_classes, pooling=pooling, dropout=dropout, activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or model_name(ARCH, width, input_shape))


def stage_layout(width: float = 1.0, *, stage_channels: Sequence[int] = STAGE_CHANNELS,
                 depths: int | Sequence[int] = STAGE_DEPTHS,
                 conv: str | Sequence[str] = "separable") -> tuple[Stage, ...]:
    """The stages :func:`stagenet` builds for these options: conv type, channels after α, depth.

    Raises:
        ModelError: stage_channels or depths that are not positive integers, of different lengths, or an
            unknown conv type.
    """
    channels = _positive_ints("stage_channels", stage_channels)
    depths = _positive_ints("depths", (depths,) * len(channels) if isinstance(depths, int) else depths)
    if len(channels) != len(depths):
        raise ModelError(f"{ARCH}: stage_channels and depths need one entry per stage, got {len(channels)} and "
                         f"{len(depths)} (stage_channels={stage_channels!r}, depths={depths!r})")
    convs = (conv,) * len(channels) if isinstance(conv, str) else tuple(conv)
    if len(convs) != len(channels) or any(c not in CONV_TYPES for c in convs):
        raise ModelError(f"{ARCH}: conv must be one of {', '.join(CONV_TYPES)} or one of them per stage "
                         f"({len(channels)}), got conv={conv!r}")
    return tuple(Stage(c, make_divisible(n * width, CHANNEL_DIVISOR), d)
                 for c, n, d in zip(convs, channels, depths, strict=True))


def _positive_ints(option: str, values: Sequence[int]) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values or \
            any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ModelError(f"{ARCH}: {option} must be a non-empty sequence of positive integers, "
                         f"got {option}={values!r}")
    return tuple(values)


def _check_layout(*, stem_channels: int, stem_stride: int, kernel_size: int, downsample: str) -> None:
    if isinstance(stem_channels, bool) or not isinstance(stem_channels, int) or stem_channels < 1:
        raise ModelError(f"{ARCH}: stem_channels must be a positive integer, got stem_channels={stem_channels!r}")
    if stem_stride not in STEM_STRIDES or isinstance(stem_stride, bool):
        raise ModelError(f"{ARCH}: stem_stride must be 1 or 2, got stem_stride={stem_stride!r}")
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ModelError(f"{ARCH}: kernel_size must be an odd positive integer, got kernel_size={kernel_size!r}")
    if downsample not in DOWNSAMPLES:
        raise ModelError(f"{ARCH}: downsample must be one of {', '.join(DOWNSAMPLES)}, got downsample={downsample!r}")
