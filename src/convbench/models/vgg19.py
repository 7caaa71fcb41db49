"""VGG-19 with a small-input head.

Reference:
    Simonyan, Zisserman: "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015
    (https://arxiv.org/abs/1409.1556), configuration E.

Five blocks of 3x3 "same" convs (2, 2, 4, 4, 4 of them; 64 → 512 filters), each closed by a 2x2/2 max
pool, then ``flatten → fc1 → fc2 → predictions``. Layer names are keras.applications' (``block{b}_conv{i}``,
``block{b}_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), so an early exit can attach after any
``block{b}_pool``. Changes for small inputs: the hidden Dense layers have 512 units instead of 4096 (a
32x32 input leaves a 1x1x512 feature map, not 7x7x512), and batch normalization follows each conv by
default so the 16-conv stack trains from scratch (as torchvision's ``vgg19_bn``).
"""

from __future__ import annotations

import keras
from keras import layers

from convbench.models._layers import batch_normalization, check_options, classifier, make_divisible, model_name
from convbench.models._registry import ExitPoint, ModelDefaults, register_model

VGG19_STAGES = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (filters, convs) per block
VGG19_HEAD = (512, 512)  # units of fc1, fc2
MIN_INPUT_SIZE = 32  # five 2x2/2 pools: a 32x32 input ends as a 1x1 feature map
# An exit may follow any block (its ``block{b}_pool``): the reference study's exit follows block1.
EXIT_POINTS = tuple(ExitPoint(f"block{b}", f"block{b}") for b in range(1, len(VGG19_STAGES) + 1))

DEFAULTS = {"vgg19": ModelDefaults(input_size=32, min_input_size=MIN_INPUT_SIZE, width_range=(0.05, 1.0),
                                   search_options=(("pooling", ("flatten", "avg", "max")),
                                                   ("dropout", (0.0, 0.25, 0.5))),
                                   exit_points=EXIT_POINTS)}


@register_model
def vgg19(input_shape: tuple[int, int, int], num_classes: int, width: float = 1.0, *,
          classifier_activation: str | None = "softmax", name: str | None = None, pooling: str = "flatten",
          dropout: float = 0.5, batch_norm: bool = True) -> keras.Model:
    """VGG-19 for small inputs.

    Args:
        input_shape: ``(H, W, C)`` with H, W ≥ 32 and C = 1 or 3.
        num_classes: number of output classes.
        width: the width multiplier α: it scales the filters of every conv and the units of ``fc1`` and
            ``fc2`` (rounded to a multiple of 8).
            - If `width < 1.0`, proportionally decreases the number of filters in each layer.
            - If `width > 1.0`, proportionally increases the number of filters in each layer.
            - If `width == 1.0`, the paper's filter counts (64 … 512) and 512-unit hidden layers are used.
            Defaults to `1.0`.
        classifier_activation: activation of the ``predictions`` layer (``None`` gives logits).
        name: model name; defaults to ``vgg19_{α}_{H}``.
        pooling: ``"flatten"`` (the paper's), ``"avg"`` or ``"max"`` (global pooling) before ``fc1``.
        dropout: dropout rate after ``fc1`` and ``fc2`` (the paper's 0.5; 0 disables).
        batch_norm: follow each conv with batch normalization (``block{b}_conv{i}_bn``) and a separate
            ReLU (``block{b}_conv{i}_relu``); ``False`` gives the paper's plain conv + ReLU layers.

    Returns:
        A functional ``keras.Model`` named as above.

    Raises:
        ModelError: input smaller than 32x32, channels other than 1 or 3, or an invalid option.
    """
    check_options("vgg19", input_shape, MIN_INPUT_SIZE, classifier_activation=classifier_activation,
                  pooling=pooling, dropout=dropout)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for b, (filters, convs) in enumerate(VGG19_STAGES, start=1):
        for i in range(1, convs + 1):
            conv_name = f"block{b}_conv{i}"
            x = layers.Conv2D(make_divisible(filters * width), 3, padding="same", use_bias=not batch_norm,
                              activation=None if batch_norm else "relu", name=conv_name)(x)
            if batch_norm:
                x = batch_normalization(f"{conv_name}_bn")(x)
                x = layers.ReLU(name=f"{conv_name}_relu")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)

    hidden = tuple(make_divisible(units * width) for units in VGG19_HEAD)
    outputs = classifier(x, num_classes, pooling=pooling, hidden=hidden, dropout=dropout,
                         activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or model_name("vgg19", width, input_shape))
