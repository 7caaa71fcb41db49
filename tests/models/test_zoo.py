"""Every registered architecture: builds, shapes, sizes, names, width scaling and refusals.

Parametrized over ``list_models()``, so a new architecture is covered without editing these tests.
"""

from __future__ import annotations

from functools import cache

import keras
import numpy as np
import pytest

from convbench.errors import ModelError
from convbench.models import build, count_macs, defaults, describe, list_models, total_macs

ARCHS = list_models()


@cache
def built(arch: str, size: int = 32, width: float = 0.25, channels: int = 3, num_classes: int = 3) -> keras.Model:
    """Models are built once per configuration: building is the slow part of these tests."""
    return build(arch, (size, size, channels), num_classes, width)


def test_seed_architectures_are_registered():
    assert {"alexnet", "alexnet_separable", "mobilenet_v1", "mobilenet_v2", "vgg19"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_gives_class_probabilities(arch):
    model = built(arch)
    probs = np.asarray(model(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.name == f"{arch}_0.25_32"


@pytest.mark.parametrize("arch", ARCHS)
def test_describe_matches_keras_counts(arch):
    model = built(arch)
    info = describe(arch, (32, 32, 3), num_classes=3, width=0.25)
    assert info["params"] == model.count_params() > 0
    assert info["macs"] == total_macs(model) == sum(row.macs for row in count_macs(model)) > 0
    assert info["name"] == model.name


@pytest.mark.parametrize("arch", ARCHS)
def test_layer_names_are_unique_and_end_in_predictions(arch):
    model = built(arch)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert names[-1] == "predictions"


@pytest.mark.parametrize("arch", ARCHS)
def test_width_scales_parameters_and_macs(arch):
    small, large = built(arch, width=0.25), built(arch, width=0.5)
    assert small.count_params() < large.count_params()
    assert total_macs(small) < total_macs(large)


@pytest.mark.parametrize("arch", ARCHS)
def test_smallest_allowed_input_builds_and_one_less_is_refused(arch):
    size = defaults(arch).min_input_size
    model = built(arch, size=size, channels=1, num_classes=2)
    assert model.output_shape == (None, 2)
    with pytest.raises(ModelError, match=f"at least {size}x{size}"):
        build(arch, (size - 1, size, 3), 2, width=0.25)


@pytest.mark.parametrize("arch", ARCHS)
def test_defaults_are_buildable(arch):
    d = defaults(arch)
    assert d.min_input_size <= d.input_size
    assert d.scale > 0


@pytest.mark.parametrize(("options", "culprit"), [
    ({"input_shape": (32, 32, 2)}, "channels"),
    ({"width": 0}, "width"),
    ({"width": -1.0}, "width"),
    ({"num_classes": 1}, "num_classes"),
    ({"classifier_activation": "nope"}, "classifier_activation"),
    ({"pooling": "median"}, "pooling"),
    ({"dropout": 1.0}, "dropout"),
    ({"bogus": 3}, "bogus"),
])
@pytest.mark.parametrize("arch", ARCHS)
def test_impossible_options_raise_model_error(arch, options, culprit):
    args = {"input_shape": (32, 32, 3), "num_classes": 2, "width": 0.25, **options}
    with pytest.raises(ModelError, match=culprit):
        build(arch, **args)


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ModelError, match="known: alexnet"):
        build("resnet", (32, 32, 3), 2)
    with pytest.raises(ModelError, match="resnet"):
        defaults("resnet")


def test_none_options_mean_default():
    assert build("alexnet", (32, 32, 3), 2, 0.25, pooling=None).get_layer("flatten") is not None


# -- architecture specifics ---------------------------------------------------------------------------------------

def test_vgg19_keeps_keras_layer_names():
    names = {layer.name for layer in built("vgg19").layers}
    expected = {f"block{b}_conv{i}" for b, convs in enumerate((2, 2, 4, 4, 4), 1) for i in range(1, convs + 1)}
    assert expected | {f"block{b}_pool" for b in range(1, 6)} | {"flatten", "fc1", "fc2", "predictions"} <= names
    assert not any(name.startswith("block6") for name in names)


def test_vgg19_width_scales_head_and_plain_variant_has_no_batch_norm():
    model = build("vgg19", (32, 32, 3), 2, width=0.5, batch_norm=False)
    assert model.get_layer("block5_conv4").filters == 256
    assert model.get_layer("fc1").units == model.get_layer("fc2").units == 256
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_alexnet_separable_keeps_conv1_full():
    model = built("alexnet_separable")
    assert type(model.get_layer("conv1")) is keras.layers.Conv2D
    assert all(isinstance(model.get_layer(f"conv{i}"), keras.layers.SeparableConv2D) for i in range(2, 6))
    plain = built("alexnet")
    assert [layer.name for layer in plain.layers] == [layer.name for layer in model.layers]


def test_alexnet_global_pooling_makes_params_independent_of_input_size():
    sizes = {build("alexnet", (s, s, 3), 2, 0.25, pooling="avg").count_params() for s in (32, 48)}
    assert len(sizes) == 1


def test_mobilenet_v2_last_channels_shrinks_the_model():
    full = built("mobilenet_v2", num_classes=2)
    assert full.get_layer("conv_last").filters == 1280  # kept at 1280 for α ≤ 1, as in the paper
    small = build("mobilenet_v2", (32, 32, 3), 2, width=0.25, last_channels=64)
    none = build("mobilenet_v2", (32, 32, 3), 2, width=0.25, last_channels=0)
    assert none.count_params() < small.count_params() < full.count_params()
    assert "conv_last" not in {layer.name for layer in none.layers}
    with pytest.raises(ModelError, match="last_channels"):
        build("mobilenet_v2", (32, 32, 3), 2, last_channels=-1)


def test_mobilenets_accept_non_square_inputs():
    model = build("mobilenet_v1", (48, 32, 3), 2, width=0.25)
    assert model.name == "mobilenet_v1_0.25_48x32"
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize(("arch", "width", "options", "reference"), [
    ("alexnet", 0.25, {}, 952_835),
    ("alexnet_separable", 0.25, {}, 866_750),
    ("mobilenet_v1", 0.25, {}, 801_795),
    ("mobilenet_v2", 0.15, {"last_channels": 128}, 98_379),
])
def test_each_seed_architecture_can_shrink_below_its_reference(arch, width, options, reference):
    assert describe(arch, (32, 32, 3), 2, width, **options)["params"] < reference
