"""MobileNet (v1), for any input of at least 32x32.

Reference:
    Howard et al.: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    2017 (https://arxiv.org/abs/1704.04861).

Layout and layer names follow keras.applications' ``MobileNet``: a 3x3/2 conv, then 13 blocks of a 3x3
depthwise conv and a 1x1 pointwise conv (each with batch norm and ReLU6), global average pooling,
dropout and the classifier. Stride-2 convs use "same" padding. Channel counts are rounded with the
shared ``make_divisible`` (keras truncates ``int(filters * alpha)``; both agree for α = 1, 0.75, 0.5, 0.25).
"""

from __future__ import annotations

import keras
from keras import layers

from convbench.models._layers import batch_normalization, check_options, classifier, make_divisible, model_name
from convbench.models._registry import ExitPoint, ModelDefaults, register_model

STEM_FILTERS = 32
# (pointwise filters, depthwise stride) of blocks 1–13 (the paper's Table 1).
MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
MIN_INPUT_SIZE = 32  # five stride-2 convs: a 32x32 input ends as a 1x1 feature map
# An exit may follow each stage: the last block before a stride-2 block (where the feature map is about to halve),
# and the last block: ``stage1`` … ``stage5`` after ``conv_pw_1``, ``conv_pw_3``, ``conv_pw_5``, ``conv_pw_11``,
# ``conv_pw_13``.
_STAGE_ENDS = [i for i, (_, s) in enumerate(MOBILENET_V1_BLOCKS[1:], start=1) if s == 2] + [len(MOBILENET_V1_BLOCKS)]
EXIT_POINTS = tuple(ExitPoint(f"stage{n}", f"conv_pw_{end}") for n, end in enumerate(_STAGE_ENDS, start=1))

DEFAULTS = {"mobilenet_v1": ModelDefaults(input_size=32, min_input_size=MIN_INPUT_SIZE, scale=1 / 127.5, offset=-1.0,
                                          width_range=(0.1, 1.0),
                                          search_options=(("pooling", ("avg", "max")), ("dropout", (0.001, 0.2))),
                                          exit_points=EXIT_POINTS)}


@register_model
def mobilenet_v1(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                 classifier_activation: str | None = "softmax", name: str | None = None, pooling: str = "avg",
                 dropout: float = 1e-3) -> keras.Model:
    """MobileNet v1.

    Args:
        input_shape: ``(H, W, C)`` with H, W ≥ 32 and C = 1 or 3.
        num_classes: number of output classes.
        width: the width multiplier α of the paper, which controls the width of the network
            (rounded to a multiple of 8, never below 8).
            - If `width < 1.0`, proportionally decreases the number of filters in each layer.
            - If `width > 1.0`, proportionally increases the number of filters in each layer.
            - If `width == 1.0`, the paper's filter counts (32 … 1024) are used.
            Defaults to `1.0`.
        classifier_activation: activation of the ``predictions`` layer (``None`` gives logits).
        name: model name; defaults to ``mobilenet_v1_{α}_{H}``.
        pooling: ``"avg"`` (the paper's), ``"max"`` or ``"flatten"`` before the classifier.
        dropout: dropout rate before ``predictions`` (keras' 1e-3 by default; 0 disables).

    Returns:
        A functional ``keras.Model``; layers ``conv1``, ``conv_dw_{i}``, ``conv_pw_{i}`` (each with
        ``_bn`` and ``_relu``), ``avg_pool``, ``dropout``, ``predictions``.

    Raises:
        ModelError: input smaller than 32x32, channels other than 1 or 3, or an invalid option.
    """
    check_options("mobilenet_v1", input_shape, MIN_INPUT_SIZE, classifier_activation=classifier_activation,
                  pooling=pooling, dropout=dropout)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_bn_relu(inputs, make_divisible(STEM_FILTERS * width), 3, strides=2, name="conv1")
    for block_id, (filters, strides) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"conv_dw_{block_id}")(x)
        x = batch_normalization(f"conv_dw_{block_id}_bn")(x)
        x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
        x = _conv_bn_relu(x, make_divisible(filters * width), 1, strides=1, name=f"conv_pw_{block_id}")

    outputs = classifier(x, num_classes, pooling=pooling, dropout=dropout, activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or model_name("mobilenet_v1", width, input_shape))


def _conv_bn_relu(x: keras.KerasTensor, filters: int, kernel_size: int, strides: int, name: str) -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = batch_normalization(f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)
