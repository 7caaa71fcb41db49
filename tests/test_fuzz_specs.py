"""Property-based tests (Hypothesis) of what users type and what convbench reads back: data specs, experiment
files and bench result JSON. Each input either loads correctly or fails with a one-line ConvbenchError; no
other exception, and no value silently changed on the way.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.result import SCHEMA, BenchResult
from convbench.data import DataSpec, check_spec, list_datasets, load
from convbench.data.mix import MixSettings, RedundantSource, mix_settings
from convbench.errors import ConvbenchError
from convbench.experiment.files import load_experiment, shipped_dir, validate_experiment
from convbench.report.compare import compare

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = [info.name for info in list_datasets()]

# -- data specs ----------------------------------------------------------------------------------------------------
_name = st.sampled_from(NAMES) | st.text(st.characters(blacklist_characters=":?", blacklist_categories=("Cs",)),
                                         min_size=1, max_size=12)
_path = st.text(st.characters(blacklist_characters="?\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30)
_options = st.dictionaries(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10),
                           st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=4)


@FUZZ
@given(name=_name, path=st.none() | _path, options=_options)
def test_a_spec_prints_as_text_that_parses_back_to_it(name: str, path: str | None, options: dict[str, str]) -> None:
    spec = DataSpec(name, None if path is None else Path(path), options)
    assume(path is None or str(Path(path)) not in ("", "."))  # Path("") is ".": no path to print
    assume(path is None or not path.startswith("~"))  # parse expands a home folder: see the test below
    assert DataSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(("typed", "expected"), [
    ("~", Path.home()),
    ("~/fruits.zip", Path.home() / "fruits.zip"),
    ("~no-such-user-0/fruits.zip", Path("~no-such-user-0/fruits.zip")),  # as a shell leaves it
    ("~0", Path("~0")),
])
def test_a_tilde_is_expanded_as_a_shell_expands_it(typed: str, expected: Path) -> None:
    assert DataSpec.parse(f"cifar10:{typed}").path == expected


@FUZZ
@given(text=st.text(max_size=60))
def test_any_text_is_a_spec_or_a_one_line_error(text: str) -> None:
    try:
        parsed = check_spec(text)
    except ConvbenchError as e:
        assert "\n" not in str(e)
        return
    assert parsed.name in NAMES


@FUZZ
@given(name=st.sampled_from(NAMES), options=_options)
def test_unknown_or_bad_options_are_refused_by_every_loader(name: str, options: dict[str, str]) -> None:
    """A registered dataset with a path that does not exist, or random options: a ConvbenchError, never a
    traceback (the embedded digits and the mix take no path)."""
    spec = DataSpec(name, Path("/nonexistent/data"), options) if name not in ("digits", "mix") else \
        DataSpec(name, None, options)
    try:
        dataset = load(str(spec))
    except ConvbenchError as e:
        assert "\n" not in str(e)
        return
    assert name == "digits" and set(options) <= {"skip_bad_images"} and dataset.num_classes == 10


_redundancy = st.none() | st.floats(0, 0.9) | st.sampled_from([-0.5, 1.0, 2.0, math.inf, math.nan])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redundancy=_redundancy, invert=st.booleans(), side=st.integers(-2, 12), channels=st.integers(0, 4),
       max_train=st.none() | st.integers(-5, 300), seed=st.integers(0, 3))
def test_a_mix_spec_rebuilds_its_mix_or_refuses_it(redundancy: float | None, invert: bool, side: int, channels: int,
                                                   max_train: int | None, seed: int) -> None:
    """``mix?…`` (what an early-exit baseline's card records) loads the very mix its settings describe."""
    spec = DataSpec("mix", None, {"main": "digits", "redundant": "digits", "size": f"{side}x{side}",
                                  "channels": str(channels), "seed": str(seed),
                                  **({"redundancy": repr(redundancy)} if redundancy is not None else {}),
                                  **({"invert_redundant": "1"} if invert else {}),
                                  **({"max_train": str(max_train)} if max_train is not None else {})})
    try:
        mixed = load(str(spec))
    except ConvbenchError:  # e.g. digits as its own redundant set shares all its classes: refused, by name
        return
    pytest.fail(f"{spec} mixed digits with itself: {mixed.class_names}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redundancy=st.none() | st.floats(0.05, 0.9), side=st.integers(4, 10), max_train=st.none() | st.integers(20, 90),
       seed=st.integers(0, 3))
def test_mix_settings_round_trip_through_their_spec(tmp_path_factory: pytest.TempPathFactory,
                                                   redundancy: float | None, side: int, max_train: int | None,
                                                   seed: int) -> None:
    redundant = _noise_folder(tmp_path_factory)
    mix_settings = MixSettings("digits", f"folder:{redundant}", redundancy, True, (side, side), 1, max_train, seed)
    spec = mix_settings.spec()
    first, again = load(spec), load(DataSpec.parse(spec).__str__())
    assert first.source == spec and first.class_names[-1] == "redundant"
    assert (first.train.images == again.train.images).all() and (first.train.labels == again.train.labels).all()
    if max_train is not None:  # the cap is exact
        uncapped = load(dataclasses.replace(mix_settings, max_train=None).spec())
        assert len(first.train) == min(max_train, len(uncapped.train))


_source = st.builds(RedundantSource, st.sampled_from(["digits", "folder:/data/a b", "mnist:/x?skip_bad_images=1"]),
                    st.floats(0.01, 10))


@FUZZ
@given(main=st.sampled_from(["digits", "folder:/data/set?size=8", "fruits360:/f.zip?labels=variety"]),
       redundant=st.sampled_from(["digits", "omniglot:/o&p?labels=alphabet", "redundant"]),
       redundancy=st.none() | st.floats(0, 0.99), invert=st.booleans(), side=st.integers(1, 64),
       width=st.integers(1, 64), channels=st.sampled_from([1, 3]), max_train=st.none() | st.integers(2, 10**6),
       seed=st.integers(0, 2**32 - 1), sources=st.lists(_source, max_size=3).map(tuple))
def test_every_mix_setting_survives_its_spec(main, redundant, redundancy, invert, side, width, channels, max_train,
                                             seed, sources) -> None:
    """``MixSettings.spec`` writes every field, and the mix loader reads back equal settings: a field it left
    out would rebuild another mix than the one the model was trained on, without a word."""
    original = MixSettings(main, redundant, redundancy, invert, (side, width), channels, max_train, seed, sources)
    options = DataSpec.parse(original.spec()).options
    assert mix_settings(**options) == original
    covered = {"main", "redundant", "redundancy", "invert_redundant", "size", "channels", "max_train", "seed",
               "sources"}
    assert {field.name for field in dataclasses.fields(MixSettings)} == covered  # a new field needs spec() too


_NOISE: list[Path] = []


def _noise_folder(factory: pytest.TempPathFactory) -> Path:
    """One class folder of 30 random 8x8 images (made once)."""
    if not _NOISE:
        import numpy as np
        from PIL import Image

        root = factory.mktemp("noise")
        (root / "noise").mkdir()
        rng = np.random.default_rng(0)
        for i in range(30):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / "noise" / f"{i}.png")
        _NOISE.append(root)
    return _NOISE[0]


# -- experiment files ------------------------------------------------------------------------------------------------
DEFAULT = tomllib.loads((shipped_dir() / "default.toml").read_text(encoding="utf-8"))
_toml_scalar = (st.integers(-(2**40), 2**40) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans()
                | st.text(max_size=15))
_toml_value = st.recursive(_toml_scalar, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3), max_leaves=6)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a parsed TOML document."""
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found += _paths(value, (*prefix, i))
    return found


@FUZZ
@given(data=st.data())
def test_a_mutated_experiment_is_valid_or_a_one_line_config_error(data: st.DataObject) -> None:
    raw = copy.deepcopy(DEFAULT)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(raw)))
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_toml_value)
        if not _paths(raw):
            break
    try:
        experiment = validate_experiment(raw, "experiment fuzz.toml")
    except ConvbenchError as e:
        assert str(e).startswith("experiment fuzz.toml") and "\n" not in str(e)
        return
    assert experiment.train.epochs >= 1 and all(m.width > 0 for m in experiment.models)
    assert all(math.isfinite(m.width) for m in experiment.models)


@FUZZ
@given(text=st.text(max_size=200) | st.integers(0, 2000).map(
    lambda n: (shipped_dir() / "default.toml").read_text(encoding="utf-8")[:n]))
def test_any_experiment_text_loads_or_fails_in_one_line(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exp.toml"
        path.write_text(text, encoding="utf-8")
        try:
            load_experiment(path)
        except ConvbenchError as e:
            assert str(e).startswith(f"experiment {path}") and "\n" not in str(e)


# -- bench result JSON ----------------------------------------------------------------------------------------------
def _valid_result(times: list[float]) -> dict[str, Any]:
    phase = Measurement(TaskSpec("m", "litert t1", "inference"), times).to_dict()
    return {"schema": SCHEMA, "model": {"path": "m.tflite", "name": "m.tflite", "size_bytes": 1000, "sha256": "ab",
                                        "arch": "m", "quantize": "none", "params": 10, "macs": 100, "accuracy": 0.5},
            "runtime": {"name": "litert", "version": "1", "threads": 1, "delegate": "xnnpack"},
            "protocol": {"runs": 3}, "image": {"source": "x"},
            "phases": {name: copy.deepcopy(phase) for name in ("load", "first_inference", "preprocess", "inference")},
            "environment": {}}


_json_value = st.recursive(st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=5)
_times = st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=20)


@FUZZ
@given(times=_times, data=st.data())
def test_a_mutated_result_loads_checked_or_fails_naming_the_file(times: list[float], data: st.DataObject) -> None:
    raw = _valid_result(times)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(raw)))
        parent = raw
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_json_value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        path.write_text(json.dumps(raw), encoding="utf-8")  # NaN and Infinity as Python's json writes them
        try:
            result = BenchResult.load(path)
        except ConvbenchError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e)
            return
    inference = result.inference.times_s
    assert inference and all(math.isfinite(t) and t >= 0 for t in inference)
    comparison = compare([result, BenchResult.from_dict(_valid_result(times))])  # ranks and tests without error
    assert [row["rank"] for row in comparison.rows] == [1, 2]


@FUZZ
@given(times=_times, bad=st.sampled_from([-1e-3, -0.0001, math.inf, -math.inf, math.nan]), at=st.integers(0, 19))
def test_negative_or_non_finite_times_are_refused(times: list[float], bad: float, at: int) -> None:
    raw = _valid_result(times)
    samples = raw["phases"]["inference"]["times_s"]
    samples[at % len(samples)] = bad
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        path.write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(ConvbenchError, match=r"phases\.inference\.times_s"):
            BenchResult.load(path)


def test_a_result_without_inference_names_the_field(tmp_path: Path) -> None:
    raw = _valid_result([0.001, 0.002])
    del raw["phases"]["inference"]
    (tmp_path / "r.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ConvbenchError, match=r"r\.json: malformed bench result: phases\.inference is missing"):
        BenchResult.load(tmp_path / "r.json")
