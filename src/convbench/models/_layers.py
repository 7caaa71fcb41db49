"""Pieces every architecture shares: width rounding, batch normalization, option checks, the model name and the
classifier head."""

from __future__ import annotations

import keras
from keras import layers

from convbench.errors import ModelError
from convbench.naming import width_text

POOLINGS = ("flatten", "avg", "max")  # how the classifier head turns the last feature map into a vector
# Momentum of the BatchNormalization moving statistics. Keras's 0.99 averages over ~100 steps and starts from
# mean 0 / variance 1, so after the few hundred steps of a short CPU run the inference-mode statistics still
# lag the weights (seen: VGG-19 at 92 % training accuracy, 12.6 % validation accuracy after 190 steps).
# 0.9 (PyTorch's default, 0.1 there) tracks them within ~20 steps.
BN_MOMENTUM = 0.9


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a width-scaled channel count to a multiple of ``divisor`` (at least ``divisor``).

    The rounding of keras.applications' MobileNetV2 and timm's ``round_channels``: nearest multiple,
    bumped up one step when rounding down would remove more than 10 % of the channels.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def batch_normalization(name: str) -> layers.BatchNormalization:
    """The BatchNormalization layer of every architecture (momentum ``BN_MOMENTUM``)."""
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def check_options(arch: str, input_shape: tuple[int, int, int], min_size: int, *, classifier_activation: str | None,
                  pooling: str, dropout: float) -> None:
    """Raise :class:`ModelError` for options the architecture cannot build, naming the option and value."""
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ModelError(f"{arch}: input channels must be 1 (grayscale) or 3 (RGB), got input_shape={input_shape!r}")
    if min(height, width) < min_size:
        raise ModelError(f"{arch}: input {height}x{width} is too small for its downsampling; need at least "
                         f"{min_size}x{min_size}, got input_shape={input_shape!r}")
    if pooling not in POOLINGS:
        raise ModelError(f"{arch}: pooling must be one of {', '.join(POOLINGS)}, got pooling={pooling!r}")
    if not 0 <= dropout < 1:
        raise ModelError(f"{arch}: dropout must be in [0, 1), got dropout={dropout!r}")
    try:
        keras.activations.get(classifier_activation)
    except ValueError:
        raise ModelError(f"{arch}: unknown classifier_activation={classifier_activation!r}; expected a Keras "
                         f"activation name such as 'softmax', or None for logits") from None


def model_name(arch: str, alpha: float, input_shape: tuple[int, int, int]) -> str:
    """The default model name, encoding α and resolution like keras (``mobilenet_v2_0.35_96``)."""
    height, width, _ = input_shape
    resolution = str(height) if height == width else f"{height}x{width}"
    return f"{arch}_{width_text(alpha)}_{resolution}"


def classifier(x: keras.KerasTensor, num_classes: int, *, pooling: str, hidden: tuple[int, ...] = (),
               dropout: float = 0.0, activation: str | None = "softmax") -> keras.KerasTensor:
    """The head: pool or flatten, then ReLU Dense layers ``fc1, fc2, …`` and the Dense ``predictions``.

    Dropout (when > 0) follows every hidden layer (``fc{i}_dropout``), or precedes ``predictions``
    (``dropout``) in a head without hidden layers.
    """
    if pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    else:
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    if dropout and not hidden:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(num_classes, activation=activation, name="predictions")(x)
