"""Experiment files: every validation error names the file and the key path; overrides; shipped files."""

from __future__ import annotations

import pytest
from support import assert_one_line_error

from convbench.errors import ConfigError
from convbench.experiment import load_experiment, make_plan, shipped_experiments
from convbench.experiment.files import parse_assignments


@pytest.mark.parametrize(("settings", "message"), [
    ({"train.epochs": 0}, "train.epochs: must be ≥ 1, got 0"),
    ({"train.epoch": 3}, "train.epoch: unknown key; expected one of: epochs, batch_size"),
    ({"surprise": 1}, "surprise: unknown key; expected one of: name, description"),
    ({"models[1].width": -1}, "models[1].width: must be > 0"),
    ({"models[0].arch": "resnet"}, "models[0].arch: unknown architecture 'resnet'; known: "),
    ({"models[0].input_size": 8}, "models[0].input_size: mobilenet_v2 needs ≥ 32 pixels, got 8"),
    ({"models[0].channels": 2}, "models[0].channels: must be 1 or 3, got 2"),
    ({"models[0].options": {"nope": 1}}, "models[0].options.nope: not an option of mobilenet_v2; accepted: "),
    ({"models[1].arch": "mobilenet_v2", "models[1].width": 0.35}, "models[1]: same label 'mobilenet_v2_0.35_32'"),
    ({"models": []}, "models: the study has nothing to do"),
    ({"bench.runtimes": {"tflite": [1]}},
     "bench.runtimes.tflite: must be 'litert', 'onnxruntime', 'keras', 'openvino' or 'litert_compiled'"),
    ({"bench.runtimes.litert": [0]}, "bench.runtimes.litert[0]: must be ≥ 1, got 0"),
    ({"bench.runtimes.litert": []}, "bench.runtimes.litert: must have at least 1 item"),
    ({"bench.min_seconds": -1}, "bench.min_seconds: must be ≥ 0"),
    ({"export.quantize": ["none", "int4"]}, "export.quantize[1]: unknown mode 'int4'"),
    ({"train.epochs": "many"}, "train.epochs: input should be a valid integer"),
    ({"train.val_fraction": 1.0}, "train.val_fraction: must be < 1"),
    ({"name": "my study"}, "name: 'my study' may hold only letters"),
    ({"report.accuracy_floor": 1.5}, "report.accuracy_floor: must be ≤ 1"),
    ({"report.runtime": "keras"}, "report.runtime: 'keras' is not among bench.runtimes"),
    ({"early_exit": {}}, "data.redundant: required by [early_exit]"),
    ({"early_exit": {"threshold": 1.0}, "data.redundant": "digits"}, "early_exit.threshold: must be < 1"),
    ({"data.main": "nosuchset:/x"}, "data.main: unknown dataset 'nosuchset'; known: "),
    ({"models[7].width": 1.0}, "--set models[7].width: models[7] does not exist"),
])
def test_every_error_names_file_and_key(small_toml, settings, message):
    with pytest.raises(ConfigError) as error:
        load_experiment(small_toml, settings=settings)
    text = str(error.value)
    assert text.startswith(f"experiment {small_toml}: "), text
    assert message in text, text
    assert "\n" not in text


def test_missing_data_path_is_named(small_toml, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"data\.main: data path not found: nowhere\.zip \(relative .*current dir"):
        load_experiment(small_toml, data={"main": "fruits360:nowhere.zip"})


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML: .*line 1"):
        load_experiment(bad)
    with pytest.raises(ConfigError, match=r"experiment file not found: .*absent\.toml \(shipped experiments: "):
        load_experiment(tmp_path / "absent.toml")


def test_overrides_and_absolute_paths(small_toml, tmp_path, monkeypatch):
    small_toml.write_text(small_toml.read_text().replace('main = "digits"', 'main = "folder:elsewhere"'))
    data = tmp_path / "images-dir"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    exp = load_experiment(small_toml, data={"main": "images-dir"}, settings={"train.epochs": 7, "models[0].width": 0.5})
    assert exp.train.epochs == 7 and exp.models[0].width == 0.5
    assert exp.data.main == f"folder:{data}"  # relative to the current directory, stored absolute


@pytest.mark.parametrize("value", ["", " ", '""'])
def test_an_empty_data_override_is_an_error_not_the_files_data(small_toml, value):
    with pytest.raises(ConfigError, match="--data main=: the value is empty"):
        load_experiment(small_toml, data=parse_assignments([f"main={value}"], "--data"))


def test_a_path_for_a_dataset_that_takes_none_is_an_error(small_toml, tmp_path):
    with pytest.raises(ConfigError, match=f"data.main: dataset 'digits' takes no path, got the path {tmp_path}"):
        load_experiment(small_toml, data={"main": str(tmp_path)})


def test_parse_assignments():
    assert parse_assignments(["train.epochs=3", "a.b=x y", "c=[1, 2]", "d=true"], "--set") == \
        {"train.epochs": 3, "a.b": "x y", "c": [1, 2], "d": True}
    with pytest.raises(ConfigError, match="--set 'oops': expected KEY=VALUE"):
        parse_assignments(["oops"], "--set")


def test_quantize_aliases_collapse_to_one_file(small_toml):
    exp = load_experiment(small_toml, settings={"export.quantize": ["none", "OPTIMIZE_FOR_SIZE", "DEFAULT", "dynamic"]})
    assert exp.export.modes() == ["none", "dynamic"]


def test_default_is_shipped_and_valid():
    assert {"default", "fruits360-architectures", "mnist-omniglot-early-exit", "cifar10-gtsrb-early-exit",
            "cifar10-cifar100-early-exit", "svhn-gtsrb-early-exit"} <= set(shipped_experiments())
    exp = load_experiment()
    assert exp.name == "default" and exp.data.main == "digits" and len(exp.models) >= 2


@pytest.mark.parametrize("name", ["fruits360-architectures", "mnist-omniglot-early-exit", "cifar10-gtsrb-early-exit",
                                  "cifar10-cifar100-early-exit", "svhn-gtsrb-early-exit"])
def test_shipped_experiments_validate(name, tmp_path):
    # paths replaced by stand-in files: this checks the schema and names, not the data
    stand_in = tmp_path / "data"
    stand_in.mkdir()
    exp = load_experiment(name, data={"main": str(stand_in), "redundant": str(stand_in)} if "early-exit" in name
                          else {"main": str(stand_in)})
    assert exp.name == name


def test_cli_reports_schema_errors_in_one_line(cli, small_toml):
    rc, _, err = cli("run", small_toml, "--set", "train.epochs=0", "--dry-run")
    assert_one_line_error(rc, err, "train.epochs", "must be ≥ 1, got 0", str(small_toml))
    rc, _, err = cli("run", small_toml, "--set", "train.patience=0", "--dry-run")  # train refuses it too
    assert_one_line_error(rc, err, "train.patience", "must be ≥ 1, got 0", str(small_toml))
    rc, _, err = cli("run", small_toml, "--data", "main=/no/such/file.zip", "--dry-run")
    assert_one_line_error(rc, err, "data.main", "/no/such/file.zip")
    rc, _, err = cli("run", "no-such-experiment")
    assert_one_line_error(rc, err, "no-such-experiment", "shipped experiments")


def test_model_label_keeps_every_digit_of_the_width(small_toml):
    labels = {s.model for s in make_plan(load_experiment(small_toml, settings={"models[0].width": 0.125}))}
    assert "mobilenet_v2_0.125_32" in labels and "alexnet_separable_0.25_32" in labels


@pytest.mark.parametrize("goal", ["max_false_exit = 0.01", "exit_rate = 0.3"])
def test_a_threshold_beside_a_calibration_goal_is_refused_when_loaded(small_toml, cli, goal):
    """A calibrated exit uses the threshold its goal picks: a fixed one beside it would be dropped without a word."""
    name, value = goal.split(" = ")
    both = {"early_exit": {"threshold": 0.7, name: float(value)}, "data.redundant": "digits"}
    with pytest.raises(ConfigError) as error:
        load_experiment(small_toml, settings=both)
    text = str(error.value)
    assert f"early_exit: threshold=0.7 and {name}={float(value)!r}" in text and "not both" in text, text
    assert "\n" not in text
    for alone in ({"threshold": 0.7}, {name: float(value)}):  # either alone is fine
        load_experiment(small_toml, settings={"early_exit": alone, "data.redundant": "digits"})
    rc, _, err = cli("run", small_toml, "--set", "data.redundant=digits", "--set",
                     f"early_exit={{threshold = 0.7, {goal}}}", "--dry-run")
    assert_one_line_error(rc, err, str(small_toml), "threshold=0.7", f"{name}=", "not both")
