"""StageNet specifics: its layout options, their refusals, its search space, its size floor and its exports.

What every architecture shares (build, forward, names, width scaling, smallest input) is in test_zoo.py.
"""

from __future__ import annotations

import itertools
import random
import warnings

import keras
import pytest

from convbench.errors import ModelError
from convbench.models import build, defaults, describe
from convbench.models.stagenet import CHANNEL_DIVISOR, Stage, stage_layout

MOBILENET_V2_REFERENCE = 98_379  # parameters of the hand-shrunk MobileNetV2 at 99.8 % (issue 11's reference)


def test_stages_follow_their_options():
    model = build("stagenet", (48, 48, 3), 2, width=1.0, stage_channels=(8, 16, 24), depths=(1, 2, 3),
                  conv=("regular", "separable", "separable"))
    assert type(model.get_layer("stem")) is keras.layers.Conv2D  # the stem is always a full conv
    assert type(model.get_layer("stage1_conv1")) is keras.layers.Conv2D
    convs = {i: [layer for layer in model.layers if layer.name.startswith(f"stage{i}_conv") and
                 layer.name.count("_") == 1] for i in (1, 2, 3)}
    assert [len(c) for c in convs.values()] == [1, 2, 3]
    assert all(isinstance(layer, keras.layers.SeparableConv2D) for i in (2, 3) for layer in convs[i])
    assert [convs[i][-1].filters for i in (1, 2, 3)] == [8, 16, 24]
    assert model.get_layer("stage3_conv3_relu").output.shape == (None, 6, 6, 24)  # 48 / 2 (stem) / 2 / 2


def test_downsampling_by_pool_or_by_stride():
    pooled = build("stagenet", (32, 32, 3), 2, stage_channels=(8, 16), depths=1)
    strided = build("stagenet", (32, 32, 3), 2, stage_channels=(8, 16), depths=1, downsample="stride")
    assert isinstance(pooled.get_layer("stage2_pool"), keras.layers.MaxPooling2D)
    assert pooled.get_layer("stage2_conv1").strides == (1, 1)
    assert "stage2_pool" not in {layer.name for layer in strided.layers}
    assert strided.get_layer("stage2_conv1").strides == (2, 2)
    for model in (pooled, strided):
        assert model.get_layer("stage2_conv1_relu").output.shape == (None, 8, 8, 16)


def test_width_rounds_channels_to_multiples_of_four():
    assert stage_layout(0.5, stage_channels=(8, 16, 30), depths=2, conv="regular") == (
        Stage("regular", 4, 2), Stage("regular", 8, 2), Stage("regular", 16, 2))
    for width in (0.1, 0.33, 0.7, 1.3):
        assert all(s.channels % CHANNEL_DIVISOR == 0 and s.channels >= CHANNEL_DIVISOR
                   for s in stage_layout(width))


@pytest.mark.parametrize(("stem_stride", "stages", "smallest"), [(2, 4, 16), (1, 4, 8), (1, 1, 1), (2, 2, 4)])
def test_smallest_input_follows_the_layout(stem_stride, stages, smallest):
    channels, depths = (8,) * stages, (1,) * stages
    model = build("stagenet", (smallest, smallest, 1), 2, stem_stride=stem_stride, stage_channels=channels,
                  depths=depths)
    assert model.output_shape == (None, 2)
    if smallest > 1:
        with pytest.raises(ModelError, match=f"at least {smallest}x{smallest}"):
            build("stagenet", (smallest - 1, smallest, 1), 2, stem_stride=stem_stride, stage_channels=channels,
                  depths=depths)


@pytest.mark.parametrize(("options", "culprit"), [
    ({"stage_channels": (8, 16), "depths": (1, 1, 1)}, "stage_channels and depths need one entry per stage"),
    ({"stage_channels": ()}, "stage_channels must be a non-empty sequence"),
    ({"stage_channels": (8, 0)}, r"stage_channels=\(8, 0\)"),
    ({"stage_channels": "16"}, "stage_channels='16'"),
    ({"depths": (1, True, 1)}, "depths="),
    ({"depths": 0}, "depths="),
    ({"conv": "depthwise"}, "conv='depthwise'"),
    ({"conv": ("regular", "separable")}, r"one of them per stage \(3\)"),
    ({"kernel_size": 4}, "kernel_size=4"),
    ({"stem_stride": 3}, "stem_stride=3"),
    ({"stem_channels": 0}, "stem_channels=0"),
    ({"downsample": "avg"}, "downsample='avg'"),
])
def test_impossible_layouts_raise_model_error_naming_the_option(options, culprit):
    with pytest.raises(ModelError, match=culprit):
        build("stagenet", (48, 48, 3), 2, **options)


def test_every_search_option_combination_builds():
    d = defaults("stagenet")
    names = [name for name, _ in d.search_options]
    combos = list(itertools.product(*(values for _, values in d.search_options)))
    sample = random.Random(0).sample(combos, 6)  # building all of them takes a minute; any one may be drawn
    for width, combo in itertools.product(d.width_range, sample):
        options = dict(zip(names, combo, strict=True))
        model = build("stagenet", (d.input_size, d.input_size, 3), 2, width=width, **options)
        assert model.output_shape == (None, 2), options


def test_it_goes_below_a_tenth_of_the_smallest_reference():
    """Issue 11's size target: a tenth of MobileNetV2's 98,379 parameters, at the input the issue measured (48 px)."""
    small = describe("stagenet", (48, 48, 3), 2, width=0.5)
    tiny = describe("stagenet", (48, 48, 3), 2, width=1.0, stem_channels=8, stage_channels=(8, 16, 32))
    assert tiny["params"] < small["params"] < MOBILENET_V2_REFERENCE / 10


@pytest.mark.slow
def test_trained_stagenet_exports_to_every_format_with_parity(tmp_path):
    from convbench.export import FP32_TOLERANCE, ExportNote, export
    from convbench.train import train
    from convbench.vocabulary import QUANTIZE_MODES

    result = train("stagenet", None, out=tmp_path / "run", input_size=16, channels=1, epochs=4, learning_rate=1e-2,
                   progress=False, stem_channels=8, stage_channels=(16, 32), depths=(1, 2),
                   conv=("regular", "separable"), downsample="stride")
    assert result.card.extra["training"]["model_options"]["stage_channels"] == [16, 32]
    assert result.test_accuracy > 0.5  # ten classes: it learned something
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExportNote)
        exports = {(to, mode): export(result.model_path, to=to, quantize=mode, out=tmp_path / f"m.{mode}.{to}")
                   for to, mode in [*(("tflite", m) for m in QUANTIZE_MODES), ("onnx", "none")]}
    for (to, mode), exported in exports.items():
        metrics = exported.card.metrics
        assert metrics["parity_top1_agreement"] >= 0.9, (to, mode, metrics)
        if mode == "none":
            assert metrics["parity_max_abs_diff"] < FP32_TOLERANCE and metrics["parity_top1_agreement"] == 1.0
        assert exported.card.arch == "stagenet" and exported.path.stat().st_size > 0
