"""The shared words agree with each other and with the code they name: Literal types with their tuples, every
registered runtime and export target with its entry, and every default record with the signature it mirrors."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from convbench import vocabulary as v


def test_literal_types_list_the_same_names_as_their_tuples():
    assert get_args(v.QuantizeModeName) == v.QUANTIZE_MODES
    assert get_args(v.RuntimeName) == tuple(v.RUNTIMES)
    assert get_args(v.ExportTarget) == tuple(v.EXPORT_SUFFIXES)
    assert get_args(v.EarlyExitForm) == v.EARLY_EXIT_FORMS


def test_quantize_names_and_labels():
    assert set(v.QUANTIZE_ALIASES) == set(v.TF_OPTIMIZATIONS)
    assert set(v.QUANTIZE_ALIASES.values()) <= set(v.QUANTIZE_MODES)
    assert (*v.QUANTIZE_MODES, *v.TF_OPTIMIZATIONS) == v.QUANTIZE_NAMES
    assert v.DEFAULT_QUANTIZE in v.QUANTIZE_MODES
    assert [v.quantize_label(m) for m in v.QUANTIZE_MODES] == ["float32", "dynamic", "float16", "int8"]
    assert all(name in v.ALIAS_NOTE for name in v.TF_OPTIMIZATIONS)


def test_every_registered_runtime_has_its_info_and_runs_its_format():
    from convbench.runtime import list_runtimes, runtime_for

    assert sorted(v.RUNTIMES) == list_runtimes()
    for name, info in v.RUNTIMES.items():
        assert info.name == name and info.file_formats
    for file_format, name in v.DEFAULT_RUNTIMES.items():
        assert runtime_for(f"model.{file_format}") == name and file_format in v.RUNTIMES[name].file_formats
    assert v.runtime_display("onnxruntime") == "ONNX Runtime" and v.runtime_display("other") == "other"


def test_every_export_target_is_accepted_by_the_exporter_and_run_by_a_runtime():
    from convbench.errors import ConfigError
    from convbench.export.modes import resolve_format, resolve_quantize
    from convbench.runtime import runtime_for

    for target, suffix in v.EXPORT_SUFFIXES.items():
        assert resolve_format(target) == target
        assert runtime_for(f"model{suffix}") == v.DEFAULT_RUNTIMES[target]
    with pytest.raises(ConfigError, match="expected one of tflite, onnx"):
        resolve_format("coreml")
    for name in v.QUANTIZE_NAMES:
        assert resolve_quantize(name).mode == v.QUANTIZE_ALIASES.get(name, name)


@pytest.mark.parametrize(("record", "function"), [
    (v.TRAIN_DEFAULTS, "convbench.train:train"),
    (v.BENCH_DEFAULTS, "convbench.bench:bench"),
    (v.DESCRIBE_DEFAULTS, "convbench.models:describe_all"),
    # train_early_exit takes its training settings as this record: both trainers default alike
    ("convbench.checks:TrainingOptions", "convbench.train:train"),
])
def test_default_records_match_the_signatures_they_mirror(record, function):
    if isinstance(record, str):  # a record class: its defaults, built with no arguments
        module, name = record.split(":")
        record = getattr(importlib.import_module(module), name)()
    module, name = function.split(":")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    for field in dataclasses.fields(record):
        assert parameters[field.name].default == getattr(record, field.name), f"{function}({field.name}=…)"


def test_early_exit_option_records_default_to_the_shared_words():
    """``train_early_exit`` takes its options as records; their defaults are the vocabulary's, as are the study
    step's (whose settings left at these defaults keep the keys of studies planned before they existed)."""
    from convbench.early_exit.training import MixOptions, NetworkOptions, OpenWorldOptions, train_early_exit
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainSettings
    from convbench.train import train

    defaults = {f.name: f.default for record in (NetworkOptions, MixOptions, OpenWorldOptions)
                for f in dataclasses.fields(record)}
    step = EarlyExitTrainSettings.model_fields
    assert defaults["exit_head"] == v.DEFAULT_EXIT_HEAD == step["exit_head"].default
    assert defaults["outlier_share"] == v.DEFAULT_OUTLIER_SHARE == step["outlier_share"].default
    assert defaults["augment_cues"] == () == step["augment_cues"].default
    early, plain = inspect.signature(train_early_exit).parameters, inspect.signature(train).parameters
    assert all(early[name].default == plain[name].default for name in ("resume", "progress"))


def test_single_defaults_match_the_library(monkeypatch):
    from convbench.experiment.history import history_path
    from convbench.export import export
    from convbench.runtime.early_exit import open_early_exit_runner

    assert inspect.signature(export).parameters["quantize"].default == v.DEFAULT_QUANTIZE
    # None: the file's own default, its calibrated threshold or else DEFAULT_THRESHOLD (see test_calibration)
    assert inspect.signature(open_early_exit_runner).parameters["threshold"].default is None
    monkeypatch.delenv(v.HISTORY_ENV, raising=False)
    assert history_path() == Path(v.DEFAULT_HISTORY).expanduser()
    monkeypatch.setenv(v.HISTORY_ENV, "elsewhere.sqlite")
    assert history_path() == Path("elsewhere.sqlite")


def test_a_study_writes_under_the_results_root_by_default(tmp_path, monkeypatch):
    from convbench.experiment import run

    monkeypatch.chdir(tmp_path)
    study = run(v.DEFAULT_EXPERIMENT, dry_run=True, record_history=False, progress=False)
    assert study.out == Path(v.RESULTS_ROOT) / study.experiment.name


def test_vocabulary_imports_nothing_heavy():
    """The schema and ``convbench --help`` read it: it must not pull in numpy, pydantic or TensorFlow."""
    heavy = ("numpy", "pydantic", "keras", "tensorflow")
    code = f"import sys, convbench.vocabulary; print([m for m in {heavy!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
