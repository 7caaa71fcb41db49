"""AlexNet adapted to small inputs, and its depthwise-separable twin.

References:
    - Krizhevsky, Sutskever, Hinton: "ImageNet Classification with Deep Convolutional Neural Networks",
      NeurIPS 2012 (AlexNet).
    - Chollet: "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017
      (https://arxiv.org/abs/1610.02357) for the separable convolutions.

The paper's five conv layers (96, 256, 384, 384, 256 filters), its overlapping 3x3/2 max pooling after
conv1, conv2 and conv5, and its two-Dense head, with these changes for 32–100 px inputs:

- conv1 is 5x5 with stride 1 (the paper's 11x11 with stride 4 would shrink a 32x32 image to 6x6 in one
  step); conv2 stays 5x5, conv3–conv5 stay 3x3, all stride 1 with "same" padding;
- the pools are 3x3, stride 2, "valid", so the feature map shrinks 32 → 15 → 7 → 3 (minimum input 15x15);
- batch normalization follows every conv (in place of the paper's local response normalization);
- the hidden Dense layers have 1024 units (the paper's 4096 served a 6x6x256 ImageNet feature map).
"""

from __future__ import annotations

import keras
from keras import layers

from convbench.models._layers import batch_normalization, check_options, classifier, make_divisible, model_name
from convbench.models._registry import ExitPoint, ModelDefaults, register_model

# (filters, kernel size, max-pool after it) per conv layer; every conv has stride 1 and "same" padding.
ALEXNET_CONVS = ((96, 5, True), (256, 5, True), (384, 3, False), (384, 3, False), (256, 3, True))
ALEXNET_HEAD = (1024, 1024)  # units of fc1, fc2
MIN_INPUT_SIZE = 15  # three 3x3/2 "valid" pools: 15 → 7 → 3 → 1
# An exit may follow each pool: ``stage1`` (``pool1``), ``stage2`` (``pool2``), ``stage3`` (``pool5``).
EXIT_POINTS = tuple(ExitPoint(f"stage{n}", f"pool{i}") for n, i in
                    enumerate((i for i, (_, _, pool) in enumerate(ALEXNET_CONVS, start=1) if pool), start=1))

# What an architecture search may vary (convbench.search): α down to the 8-channel floor of make_divisible.
SEARCH_OPTIONS = (("pooling", ("flatten", "avg", "max")), ("dropout", (0.0, 0.25, 0.5)))
DEFAULTS = {
    "alexnet": ModelDefaults(input_size=32, min_input_size=MIN_INPUT_SIZE, width_range=(0.05, 1.0),
                             search_options=SEARCH_OPTIONS, exit_points=EXIT_POINTS),
    "alexnet_separable": ModelDefaults(input_size=32, min_input_size=MIN_INPUT_SIZE, width_range=(0.05, 1.0),
                                       search_options=SEARCH_OPTIONS, exit_points=EXIT_POINTS),
}


@register_model
def alexnet(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
            classifier_activation: str | None = "softmax", name: str | None = None, pooling: str = "flatten",
            dropout: float = 0.5) -> keras.Model:
    """AlexNet for small inputs (see the module docstring for the layout).

    Args:
        input_shape: ``(H, W, C)`` with H, W ≥ 15 and C = 1 or 3.
        num_classes: number of output classes.
        width: the width multiplier α: it scales the filters of every conv layer and the units of the
            hidden Dense layers (rounded to a multiple of 8).
            - If `width < 1.0`, proportionally decreases the number of filters in each layer.
            - If `width > 1.0`, proportionally increases the number of filters in each layer.
            - If `width == 1.0`, the paper's filter counts (96, 256, 384, 384, 256) are used.
            Defaults to `1.0`.
        classifier_activation: activation of the ``predictions`` layer (``None`` gives logits).
        name: model name; defaults to ``alexnet_{α}_{H}``.
        pooling: how the last feature map reaches ``fc1``: ``"flatten"`` (the paper's, parameters grow
            with the input size), ``"avg"`` or ``"max"`` (global pooling).
        dropout: dropout rate after ``fc1`` and ``fc2`` (0 disables).

    Returns:
        A functional ``keras.Model``; layers ``conv{i}``, ``conv{i}_bn``, ``conv{i}_relu`` (i = 1…5),
        ``pool1``, ``pool2``, ``pool5`` (Caffe's names),
        ``flatten``, ``fc1``, ``fc2``, ``predictions``.

    Raises:
        ModelError: input smaller than 15x15, channels other than 1 or 3, or an invalid option.
    """
    return _alexnet("alexnet", input_shape, num_classes, width, separable=False,
                    classifier_activation=classifier_activation, name=name, pooling=pooling, dropout=dropout)


@register_model
def alexnet_separable(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
                      classifier_activation: str | None = "softmax", name: str | None = None,
                      pooling: str = "flatten", dropout: float = 0.5) -> keras.Model:
    """AlexNet for small inputs with conv2–conv5 as ``SeparableConv2D`` (conv1 stays ``Conv2D``).

    conv1 stays a full convolution: on 1–3 input channels a depthwise step saves almost nothing and
    leaves each output filter to mix a single channel. Arguments, layer names and errors are those of
    :func:`alexnet`.
    """
    return _alexnet("alexnet_separable", input_shape, num_classes, width, separable=True,
                    classifier_activation=classifier_activation, name=name, pooling=pooling, dropout=dropout)


def _alexnet(arch: str, input_shape: tuple[int, int, int], num_classes: int, width: float, *, separable: bool,
             classifier_activation: str | None, name: str | None, pooling: str, dropout: float) -> keras.Model:
    check_options(arch, input_shape, MIN_INPUT_SIZE, classifier_activation=classifier_activation,
                  pooling=pooling, dropout=dropout)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for i, (filters, kernel_size, pool) in enumerate(ALEXNET_CONVS, start=1):
        conv = layers.SeparableConv2D if separable and i > 1 else layers.Conv2D
        x = conv(make_divisible(filters * width), kernel_size, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = batch_normalization(f"conv{i}_bn")(x)
        x = layers.ReLU(name=f"conv{i}_relu")(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)

    hidden = tuple(make_divisible(units * width) for units in ALEXNET_HEAD)
    outputs = classifier(x, num_classes, pooling=pooling, hidden=hidden, dropout=dropout,
                         activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or model_name(arch, width, input_shape))
