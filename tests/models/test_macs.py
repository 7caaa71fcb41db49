"""MAC counting: per layer type against the formula, and one whole network against a hand calculation."""

from __future__ import annotations

import keras
import pytest

from convbench.errors import ModelError
from convbench.models import build, count_macs, total_macs


def _one_layer(layer: keras.layers.Layer, input_shape: tuple[int, ...]) -> int:
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, layer(inputs))
    return total_macs(model)


@pytest.mark.parametrize(("layer", "input_shape", "macs"), [
    # output 5x5x8 ("same", stride 2 on 9x9), each output reads a 3x3x4 window
    (keras.layers.Conv2D(8, 3, strides=2, padding="same"), (9, 9, 4), 5 * 5 * 8 * (3 * 3 * 4)),
    # "valid": 9 → 4
    (keras.layers.Conv2D(8, 3, strides=2, padding="valid"), (9, 9, 4), 4 * 4 * 8 * (3 * 3 * 4)),
    # 2 groups: each output reads 4/2 input channels
    (keras.layers.Conv2D(8, 3, padding="same", groups=2), (6, 6, 4), 6 * 6 * 8 * (3 * 3 * 2)),
    # depthwise, multiplier 2, stride 2: output 4x4x8, one 3x3 window each
    (keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2), (8, 8, 4), 4 * 4 * 8 * 9),
    # separable: depthwise 8x8x4 (3x3 each) + pointwise 8x8x6 (4 inputs each)
    (keras.layers.SeparableConv2D(6, 3, padding="same"), (8, 8, 4), 8 * 8 * 4 * 9 + 8 * 8 * 6 * 4),
    (keras.layers.Dense(10), (20,), 20 * 10),
    (keras.layers.Dense(10), (3, 20), 3 * 20 * 10),  # applied at each of 3 positions
    (keras.layers.BatchNormalization(), (8, 8, 4), 0),
    (keras.layers.MaxPooling2D(), (8, 8, 4), 0),
])
def test_layer_macs(layer, input_shape, macs):
    assert _one_layer(layer, input_shape) == macs


def test_rows_name_kind_and_shape():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="c")(inputs)
    rows = count_macs(keras.Model(inputs, keras.layers.ReLU(name="r")(x)))
    assert [(r.name, r.kind, r.output_shape) for r in rows] == [
        ("image", "InputLayer", (None, 8, 8, 3)), ("c", "Conv2D", (None, 6, 6, 4)), ("r", "ReLU", (None, 6, 6, 4))]
    assert [r.macs for r in rows] == [0, 6 * 6 * 4 * 27, 0]


def test_nested_models_are_expanded():
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, padding="same", name="conv")(inner_in), name="inner")
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, name="fc")(keras.layers.Flatten()(inner(inputs)))
    rows = {r.name: r.macs for r in count_macs(keras.Model(inputs, outputs))}
    assert rows["inner/conv"] == 8 * 8 * 4 * 27
    assert rows["fc"] == 8 * 8 * 4 * 2


def test_shared_layer_is_refused_with_its_name():
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    with pytest.raises(ModelError, match="shared"):
        count_macs(keras.Model(inputs, shared(shared(inputs))))


def test_alexnet_quarter_width_by_hand():
    """AlexNet, α = 0.25, 32x32x3, 2 classes: filters 24, 64, 96, 96, 64; fc 256, 256.

    Spatial sizes: convs keep the size ("same", stride 1); 3x3/2 "valid" pools: 32 → 15 → 7 → 3.
    """
    expected = {
        "conv1": 32 * 32 * 24 * (5 * 5 * 3),   # 1,843,200
        "conv2": 15 * 15 * 64 * (5 * 5 * 24),  # 8,640,000
        "conv3": 7 * 7 * 96 * (3 * 3 * 64),    # 2,709,504
        "conv4": 7 * 7 * 96 * (3 * 3 * 96),    # 4,064,256
        "conv5": 7 * 7 * 64 * (3 * 3 * 96),    # 2,709,504
        "fc1": (3 * 3 * 64) * 256,             # 147,456
        "fc2": 256 * 256,                      # 65,536
        "predictions": 256 * 2,                # 512
    }
    model = build("alexnet", (32, 32, 3), 2, width=0.25)
    rows = {r.name: r.macs for r in count_macs(model) if r.macs}
    assert rows == expected
    assert total_macs(model) == 20_179_968 == sum(expected.values())
