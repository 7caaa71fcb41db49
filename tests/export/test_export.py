"""Export of the session's tiny trained model: every mode, parity figures, identical reference-study files, errors."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

from convbench.artifacts import ModelCard, read_card
from convbench.data import Preprocessing
from convbench.errors import ConfigError, ModelError
from convbench.export import (
    FP32_TOLERANCE,
    ExportNote,
    Parity,
    check_float32,
    check_ops,
    convert_tflite,
    export,
    resolve_quantize,
    tflite_ops,
)
from convbench.io import sha256_file
from convbench.vocabulary import QUANTIZE_MODES, TF_OPTIMIZATIONS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("to, quantize", [*(("tflite", mode) for mode in QUANTIZE_MODES), ("onnx", "none")])
def test_every_mode_exports_with_its_card(tiny, to, quantize):
    result = tiny.export(to, quantize)
    card = read_card(result.path)
    assert card == result.card
    assert (card.format, card.quantize) == (to, quantize)
    assert card.sha256 == sha256_file(result.path)
    assert card.extra["size_bytes"] == result.path.stat().st_size
    source = read_card(tiny.model_path)
    assert card.source is not None and card.source.path == str(tiny.model_path)
    assert (card.source.sha256, card.source.metrics) == (source.sha256, source.metrics)  # the Keras model's
    assert (card.data, card.split) == (source.data, source.split)
    assert card.extra["conversion_seconds"] > 0
    assert card.input_shape == read_card(tiny.model_path).input_shape


@pytest.mark.parametrize("to, quantize", [*(("tflite", mode) for mode in QUANTIZE_MODES), ("onnx", "none")])
def test_parity_figures_are_present_and_sane(tiny, to, quantize):
    m = tiny.export(to, quantize).card.metrics
    assert Parity.from_metrics(m).to_metrics() == m  # nothing else in an exported file's metrics
    assert m["parity_images"] == 300 and m["parity_data"] == "digits (test split)"
    assert 0.0 <= m["parity_max_abs_diff"] <= 1.0  # probabilities; quantised files differ, top-1 is what counts
    assert m["parity_top1_agreement"] >= 0.9
    assert abs(m["accuracy"] - m["keras_accuracy"]) <= 0.05
    if quantize == "none":  # float32 files reproduce Keras
        assert m["parity_max_abs_diff"] < FP32_TOLERANCE and m["parity_top1_agreement"] == 1.0


def test_quantized_files_are_smaller(tiny):
    size = {mode: tiny.export("tflite", mode).card.extra["size_bytes"] for mode in QUANTIZE_MODES}
    assert size["dynamic"] < size["none"] and size["float16"] < size["none"] and size["int8"] < size["none"]


def test_reference_study_names_give_one_identical_file(tiny):
    hashes = {name: tiny.export("tflite", name).card.sha256 for name in TF_OPTIMIZATIONS}
    assert len(set(hashes.values())) == 1, hashes
    assert set(hashes.values()) == {tiny.export("tflite", "dynamic").card.sha256}
    card = tiny.export("tflite", "OPTIMIZE_FOR_SIZE").card
    assert card.quantize == "dynamic" and card.extra["optimization"] == "OPTIMIZE_FOR_SIZE"
    assert "same optimisation" in card.extra["notes"][0]


def test_alias_names_warn_that_they_are_one_optimisation(tiny, tmp_path):
    with pytest.warns(ExportNote, match=r"OPTIMIZE_FOR_LATENCY, OPTIMIZE_FOR_SIZE and DEFAULT"), \
            pytest.raises(ConfigError):  # stops before converting: the note comes first
        export(tiny.model_path, quantize="OPTIMIZE_FOR_LATENCY", out=tmp_path / "x.onnx")


def test_no_flex_ops_in_any_tflite(tiny):
    for mode in QUANTIZE_MODES:
        result = tiny.export("tflite", mode)
        ops = tflite_ops(result.path.read_bytes())
        assert "CONV_2D" in ops and not any(op.startswith("Flex") for op in ops)
        assert result.card.extra["ops"] == sorted(set(ops))


def test_int8_is_fully_integer_with_float_io_by_default(tiny):
    card = tiny.export("tflite", "int8").card
    assert {"QUANTIZE", "DEQUANTIZE"} <= set(card.extra["ops"])  # float in, int8 inside, float out
    assert card.extra["calibration"]["images"] == 200 and "train split" in card.extra["calibration"]["data"]
    assert "input_dtype" not in card.extra


@pytest.fixture(scope="module")
def flex_model():
    """A model with an op LiteRT has no builtin for (cumulative product → FlexCumprod)."""
    import keras
    import tensorflow as tf

    class Cumprod(keras.layers.Layer):
        def call(self, x):
            return tf.math.cumprod(x, axis=1)

    inputs = keras.Input((16, 16, 1))
    x = keras.layers.GlobalAveragePooling2D()(Cumprod()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x), name="flexy")


def test_flex_ops_are_refused_unless_allowed(flex_model, tmp_path):
    from convbench.runtime import open_runner

    with pytest.raises(ModelError, match=r"flexy: the model needs TF \(Flex\) ops \(Cumprod\).*--allow-flex"):
        convert_tflite(flex_model, resolve_quantize("none"))
    content = convert_tflite(flex_model, resolve_quantize("none"), allow_flex=True)
    assert "FlexCumprod" in tflite_ops(content)
    with pytest.raises(ModelError, match=r"FlexCumprod.*--allow-flex"):
        check_ops(content, allow_flex=False, name="m")
    path = tmp_path / "flex.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"flex\.tflite: litert cannot load it"):
        open_runner(path, card=ModelCard("flexy", 1.0, (16, 16, 1), tuple("0123456789"), Preprocessing((16, 16), 1),
                                         format="tflite")).load()


def test_allowed_flex_export_skips_parity_with_a_note(flex_model, tiny, tmp_path, monkeypatch):
    import convbench.export.tflite as tflite

    content = convert_tflite(flex_model, resolve_quantize("none"), allow_flex=True)
    monkeypatch.setattr(tflite, "convert_tflite", lambda *a, **k: content)  # stands in for the tiny model's
    with pytest.warns(ExportNote, match=r"parity not checked.*FlexCumprod"):
        result = export(tiny.model_path, out=tmp_path / "flex.tflite", allow_flex=True)
    assert "FlexCumprod" in result.card.extra["ops"] and "parity_images" not in result.card.metrics


def test_float32_parity_failure_writes_nothing(tiny, tmp_path, monkeypatch):
    import convbench.export.parity as parity
    import convbench.export.tflite as tflite

    content = tiny.export("tflite", "none").path.read_bytes()  # stands in for a conversion: no seconds spent
    monkeypatch.setattr(tflite, "convert_tflite", lambda *a, **k: content)
    monkeypatch.setattr(parity, "FP32_TOLERANCE", 0.0)
    out = tmp_path / "m.tflite"
    with pytest.raises(ModelError, match=r"m.tflite: float32 export differs from Keras"):
        export(tiny.model_path, out=out)
    assert list(tmp_path.iterdir()) == []


def test_check_float32_threshold():
    figures = Parity(max_abs_diff=5e-5, top1_agreement=1.0, accuracy=1.0, keras_accuracy=1.0, images=3, data="x")
    check_float32(figures, "ok.tflite")
    with pytest.raises(ModelError, match=r"bad\.onnx.*0\.0002 on 3 images \(tolerance 0\.0001"):
        check_float32(replace(figures, max_abs_diff=2e-4), "bad.onnx")


def test_default_output_paths(tiny):
    from convbench.export.exporter import _out_path

    model = tiny.model_path
    assert _out_path(model, "tflite", resolve_quantize("int8"), None) == model.with_name("model.int8.tflite")
    assert _out_path(model, "tflite", resolve_quantize("DEFAULT"), None) == model.with_name("model.default.tflite")
    assert _out_path(model, "onnx", resolve_quantize("none"), None) == model.with_name("model.onnx")


def test_quantize_names():
    assert resolve_quantize("float16").mode == "float16"
    for name in ("OPTIMIZE_FOR_LATENCY", "optimize_for_size", "DEFAULT"):
        mode = resolve_quantize(name)
        assert mode.mode == "dynamic" and mode.optimization == name.upper() and mode.is_alias
    with pytest.raises(ConfigError, match=r"'int4'.*none, dynamic, float16, int8"):
        resolve_quantize("int4")


@pytest.mark.parametrize("to, quantize, options, error, needle", [
    ("coreml", "none", {}, ConfigError, "'coreml'"),
    ("tflite", "int4", {}, ConfigError, "'int4'"),
    ("onnx", "int8", {}, ConfigError, "quantize='int8' is not supported for ONNX"),
    ("tflite", "float16", {"int8_io": True}, ConfigError, "int8_io needs quantize='int8'"),
    ("tflite", "none", {"out": "x.onnx"}, ConfigError, "must end with .tflite"),
])
def test_bad_options_fail_before_converting(tiny, tmp_path, to, quantize, options, error, needle):
    if "out" in options:
        options = {"out": tmp_path / options["out"]}
    with pytest.raises(error, match=needle):
        export(tiny.model_path, to=to, quantize=quantize, **options)
    assert list(tmp_path.iterdir()) == []


def test_not_a_model_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match=r"notes.txt: not a Keras model file"):
        export(text)
    with pytest.raises(ModelError, match=r"missing.keras: no such model file"):
        export(tmp_path / "missing.keras")


def test_corrupt_keras_file_leaves_nothing(tiny, tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_bytes(b"not a zip archive")
    (tmp_path / "model.keras.json").write_bytes((tiny.model_path.parent / "model.keras.json").read_bytes())
    with pytest.raises(ModelError, match=r"model.keras"):
        export(fake)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "model.keras.json"]


def test_int8_without_calibration_data(model_without_data):
    with pytest.raises(ConfigError, match=r"int8 calibration.*--calibration"):
        export(model_without_data, quantize="int8")
    with pytest.raises(ConfigError, match=r"parity check.*--data"):
        export(model_without_data)
    assert sorted(p.name for p in model_without_data.parent.iterdir()) == ["model.keras", "model.keras.json"]


def test_int8_io_runner_quantises_float_input(tiny):
    from convbench.runtime import open_runner

    result = tiny.export("tflite", "int8", int8_io=True)
    assert result.card.extra["input_dtype"] == "int8" and result.card.metrics["parity_top1_agreement"] >= 0.9
    runner = open_runner(result.path)
    assert runner.input_dtype == np.int8  # known from the card before loading
    probs = runner.predict(tiny.images.x)
    assert runner.input_dtype == np.int8 and probs.dtype == np.float32
    agreement = np.mean(probs.argmax(1) == tiny.keras_probs(tiny.images.x).argmax(1))
    assert agreement >= 0.9


def test_warning_free_plain_export(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportNote)
        assert tiny.export("tflite", "float16").notes == ()
