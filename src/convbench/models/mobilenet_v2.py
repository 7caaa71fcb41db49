"""MobileNetV2, for any input of at least 32x32.

Reference:
    Sandler et al.: "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
    (https://arxiv.org/abs/1801.04381).

Layout follows keras.applications' ``MobileNetV2``: a 3x3/2 conv, 17 inverted residual blocks (1x1
expansion, 3x3 depthwise, linear 1x1 projection; a residual add where shapes allow), a 1x1 conv to
1280 channels, global average pooling and the classifier. Stride-2 convs use "same" padding, and layer
names are lower-case and uniform (``block_{id}_expand`` … ``block_{id}_add``, block 0 has no expansion).
"""

from __future__ import annotations

import itertools

import keras
from keras import layers

from convbench.errors import ModelError
from convbench.models._layers import batch_normalization, check_options, classifier, make_divisible, model_name
from convbench.models._registry import ExitPoint, ModelDefaults, register_model

STEM_FILTERS = 32
# (expansion t, output channels c, repeats n, first stride s) per stage (the paper's Table 2).
MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))
LAST_CHANNELS = 1280
MIN_INPUT_SIZE = 32  # five stride-2 convs: a 32x32 input ends as a 1x1 feature map
# An exit may follow each of the paper's seven stages (its last block: ``block_0``, ``block_2``, ``block_5``,
# ``block_9``, ``block_12``, ``block_15``, ``block_16``), whose output is its ``_add`` or ``_project_bn`` layer.
EXIT_POINTS = tuple(ExitPoint(f"stage{n}", f"block_{end - 1}") for n, end in
                    enumerate(itertools.accumulate(repeats for _, _, repeats, _ in MOBILENET_V2_STAGES), start=1))

DEFAULTS = {"mobilenet_v2": ModelDefaults(input_size=32, min_input_size=MIN_INPUT_SIZE, scale=1 / 127.5, offset=-1.0,
                                          width_range=(0.1, 1.0),
                                          search_options=(("pooling", ("avg", "max")),
                                                          ("last_channels", (0, 64, 256, LAST_CHANNELS))),
                                          exit_points=EXIT_POINTS)}


@register_model
def mobilenet_v2(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                 classifier_activation: str | None = "softmax", name: str | None = None, pooling: str = "avg",
                 dropout: float = 0.0, last_channels: int | None = None) -> keras.Model:
    """MobileNetV2.

    Args:
        input_shape: ``(H, W, C)`` with H, W ≥ 32 and C = 1 or 3.
        num_classes: number of output classes.
        width: the width multiplier α of the paper, which controls the width of the network
            (rounded to a multiple of 8, never below 8).
            - If `width < 1.0`, proportionally decreases the number of filters in each layer.
            - If `width > 1.0`, proportionally increases the number of filters in each layer.
            - If `width == 1.0`, the paper's filter counts are used.
            Defaults to `1.0`. As in the paper, the last conv keeps 1280 channels when `width ≤ 1`
            (see ``last_channels``).
        classifier_activation: activation of the ``predictions`` layer (``None`` gives logits).
        name: model name; defaults to ``mobilenet_v2_{α}_{H}``.
        pooling: ``"avg"`` (the paper's), ``"max"`` or ``"flatten"`` before the classifier.
        dropout: dropout rate before ``predictions`` (0, the default, disables it).
        last_channels: channels of the last 1x1 conv ``conv_last``, used as given (not scaled by α);
            ``0`` drops that conv. Defaults to 1280, or ``make_divisible(1280 * width)`` when
            `width > 1`. The 1280-channel conv dominates small variants (e.g. ≈ 0.1 M of the parameters
            at α = 0.35): lower it to shrink them.

    Returns:
        A functional ``keras.Model``; layers ``conv1``, ``block_{i}_{expand,depthwise,project}`` (each
        with ``_bn``; ``_relu`` on expand and depthwise), ``block_{i}_add``, ``conv_last``,
        ``conv_last_bn``, ``out_relu``, ``avg_pool``, ``predictions``.

    Raises:
        ModelError: input smaller than 32x32, channels other than 1 or 3, or an invalid option.
    """
    check_options("mobilenet_v2", input_shape, MIN_INPUT_SIZE, classifier_activation=classifier_activation,
                  pooling=pooling, dropout=dropout)
    if last_channels is None:
        # The paper keeps the last conv at 1280 for α < 1 ("improves performance for smaller models").
        last_channels = make_divisible(LAST_CHANNELS * width) if width > 1.0 else LAST_CHANNELS
    if isinstance(last_channels, bool) or not isinstance(last_channels, int) or last_channels < 0:
        raise ModelError(f"mobilenet_v2: last_channels must be an integer ≥ 0 (0 drops the last conv), "
                         f"got last_channels={last_channels!r}")

    inputs = keras.Input(shape=input_shape, name="input")
    x = layers.Conv2D(make_divisible(STEM_FILTERS * width), 3, strides=2, padding="same", use_bias=False,
                      name="conv1")(inputs)
    x = batch_normalization("conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)

    block_id = 0
    for expansion, channels, repeats, first_stride in MOBILENET_V2_STAGES:
        for i in range(repeats):
            x = _inverted_res_block(x, expansion, make_divisible(channels * width), first_stride if i == 0 else 1,
                                    block_id)
            block_id += 1

    if last_channels:
        x = layers.Conv2D(last_channels, 1, use_bias=False, name="conv_last")(x)
        x = batch_normalization("conv_last_bn")(x)
        x = layers.ReLU(6.0, name="out_relu")(x)

    outputs = classifier(x, num_classes, pooling=pooling, dropout=dropout, activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or model_name("mobilenet_v2", width, input_shape))


def _inverted_res_block(inputs: keras.KerasTensor, expansion: int, filters: int, strides: int,
                        block_id: int) -> keras.KerasTensor:
    """Expand (1x1, ReLU6) → depthwise 3x3 (ReLU6) → linear project (1x1), plus the input when shapes match."""
    in_channels = inputs.shape[-1]
    prefix = f"block_{block_id}_"
    x = inputs
    if expansion != 1:
        x = layers.Conv2D(expansion * in_channels, 1, use_bias=False, name=prefix + "expand")(x)
        x = batch_normalization(prefix + "expand_bn")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=prefix + "depthwise")(x)
    x = batch_normalization(prefix + "depthwise_bn")(x)
    x = layers.ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=prefix + "project")(x)
    x = batch_normalization(prefix + "project_bn")(x)  # linear bottleneck: no activation
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=prefix + "add")([inputs, x])
    return x
