"""Multiply-accumulates (MACs) per image, counted layer by layer from a built Keras model.

Every weighted layer does one MAC per output position per kernel weight it applies there:

- Conv (1D/2D/3D, any strides, padding, dilation, groups): positions × kh·kw·(C_in/groups)·C_out;
- DepthwiseConv: positions × kh·kw·C_in·depth_multiplier;
- SeparableConv: its depthwise part plus its pointwise part, positions × C_in·depth_multiplier·C_out;
- Dense: positions × C_in·units (positions = 1 for a flat input).

"Positions" are the output's spatial positions, so strides and padding enter through the output
shape. Bias additions, batch norm, activations and pooling count 0, as in the MobileNet papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from convbench.errors import ModelError

_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


@dataclass(frozen=True)
class LayerMacs:
    """The MACs of one layer for one input image (``name`` is ``outer/inner`` inside a nested model)."""

    name: str
    kind: str
    output_shape: tuple[int | None, ...]
    macs: int


def count_macs(model: keras.Model) -> list[LayerMacs]:
    """One :class:`LayerMacs` per layer of ``model`` in graph order (nested models are expanded)."""
    rows: list[LayerMacs] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            rows += [LayerMacs(f"{layer.name}/{r.name}", r.kind, r.output_shape, r.macs) for r in count_macs(layer)]
            continue
        shape = _output_shape(layer)
        rows.append(LayerMacs(layer.name, type(layer).__name__, shape, _layer_macs(layer, shape)))
    return rows


def total_macs(model: keras.Model) -> int:
    """MACs of one forward pass of one image through ``model``."""
    return sum(row.macs for row in count_macs(model))


def _output_shape(layer: keras.layers.Layer) -> tuple[int | None, ...]:
    # Keras 3's `layer.output` silently answers a shared layer's first call only: refuse rather than undercount.
    calls = len(layer._inbound_nodes)
    if calls != 1:
        raise ModelError(f"cannot count MACs of layer {layer.name!r}: it was called {calls} times; "
                         f"expected exactly one call (layers shared between calls are not supported)")
    output = layer.output
    if isinstance(output, (list, tuple)):
        return tuple(output[0].shape)  # weighted layers have one output; other multi-output layers count 0
    return tuple(output.shape)


def _layer_macs(layer: keras.layers.Layer, output_shape: tuple[int | None, ...]) -> int:
    if not isinstance(layer, (*_CONVS, *_DEPTHWISE, *_SEPARABLE, keras.layers.Dense)):
        return 0
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    positions = math.prod(output_shape[2:] if channels_first else output_shape[1:-1])
    if isinstance(layer, _SEPARABLE):
        return positions * (_size(layer.depthwise_kernel) + _size(layer.pointwise_kernel))
    return positions * _size(layer.kernel)


def _size(kernel: keras.Variable) -> int:
    return math.prod(kernel.shape)
