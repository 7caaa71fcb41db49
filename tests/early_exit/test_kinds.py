"""The study's early-exit step kinds, run one after the other on the tiny fixtures as the study runs them:
train (resumed from the CLI's run: same settings, so no epoch is trained again) → export → eval per form →
sweep; then their contributions to the results, which the report's early-exit section renders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convbench.experiment.kinds.early_exit_eval import EarlyExitEvalKind
from convbench.experiment.kinds.early_exit_export import EarlyExitExportKind
from convbench.experiment.kinds.early_exit_sweep import EarlyExitSweepKind
from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind
from convbench.experiment.results import StudyResults
from convbench.experiment.schema import DataConfig, EarlyExitConfig, Experiment, TrainConfig
from convbench.experiment.step import DataCache, Done, Planned, StepContext, step_kind
from convbench.io import read_json
from convbench.report.early_exit_section import early_exit_sections

KINDS = (EarlyExitTrainKind, EarlyExitExportKind, EarlyExitEvalKind, EarlyExitSweepKind)


@pytest.fixture(scope="module")
def study(trained_dir: Path, tiny_backbone: str,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Planned, StudyResults]:
    """Plan the kinds for an experiment with the CLI run's settings, run every step, collect the results."""
    early_exit = EarlyExitConfig(backbone=tiny_backbone, redundancy=0.5, forms=["single", "chained"], limit=30,
                                 repeats=1, sweep=True)
    experiment = Experiment(name="ee", data=DataConfig(main="ee_main", redundant="ee_redundant"),
                            train=TrainConfig(epochs=3), early_exit=early_exit)
    planned = Planned()
    for kind in KINDS:
        planned.steps += step_kind(kind.name).plan(experiment, planned)
    root, datasets = tmp_path_factory.mktemp("study"), DataCache()
    shutil.copytree(trained_dir, root / planned.of(EarlyExitTrainKind)[0].folder)  # its checkpoints: no retraining
    results = StudyResults(root, "ee_main", {})
    for step in planned.steps:
        kind = step_kind(step.kind)
        ctx = StepContext(root / step.folder, tuple(results.finished[k] for k in step.needs), datasets, progress=False)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        results.finished[step.key] = Done(step, ctx.dir, kind.run(step, ctx))
    for step in planned.steps:
        step_kind(step.kind).contribute(results.finished[step.key], results)
    return planned, results


def test_plan_trains_once_exports_once_and_times_each_form(study):
    planned, _ = study
    label = "early_exit_ee_tiny_vgg_1.00_block1"
    assert [(s.kind, s.name) for s in planned.steps] == [
        ("early_exit_train", label), ("early_exit_export", label), ("early_exit_eval", f"{label} single 1t"),
        ("early_exit_eval", f"{label} chained 1t"), ("early_exit_sweep", f"{label} single 1t")]
    train, export = planned.steps[:2]
    assert export.needs == (train.key,) and all(s.needs == (train.key, export.key) for s in planned.steps[2:])


def test_train_step_resumes_the_finished_run(study, trained_dir):
    planned, results = study
    done = results.finished[planned.steps[0].key]
    assert done.outputs.model == "early_exit/model.keras" and done.outputs.baseline == "baseline/model.keras"
    assert done.outputs.test_accuracy == read_json(trained_dir / "training.json")["early_exit"]["test_accuracy"]


def test_export_step_writes_every_form_and_the_baseline_in_its_folder(study):
    planned, results = study
    done = results.finished[planned.steps[1].key]
    assert done.outputs.forms == {"single": "early_exit.tflite", "chained": "early_exit_stem.tflite"}
    for name in ("early_exit.tflite", "early_exit_stem.tflite", "early_exit_rest.tflite", "baseline.tflite"):
        assert (done.dir / name).is_file() and (done.dir / f"{name}.json").is_file()


def test_evaluations_become_the_report_entries_with_the_sweep_joined(study, tmp_path):
    _, results = study
    single, chained = results.early_exit
    assert (single.evaluation.form, chained.evaluation.form) == ("single", "chained")
    assert list(single.to_dict()) == [  # results.json's layout
        "model", "training", "form", "threshold", "threads", "runtime", "repeats", "mix", "rows", "timing", "paths",
        "analytic", "rejection", "by_source", "sweep", "environment", "summary"]
    assert chained.sweep is None and "sweep" not in chained.to_dict()
    assert single.training.backbone == "ee_tiny_vgg" and single.sweep is not None
    assert len(single.sweep.by_redundancy) == 10 and len(single.sweep.by_threshold) > 5
    assert single.evaluation.rows[1].images == 30 and single.evaluation.mix.redundancy == 0.5
    flat = [row.to_dict() for row in results.rows]
    assert [(r["variant"], r["form"]) for r in flat] == [
        ("baseline", "single"), ("early exit", "single"), ("baseline", "chained"), ("early exit", "chained")]
    sections = early_exit_sections(results.early_exit, tmp_path)
    assert len(sections) == 2 and sorted(p.name for p in tmp_path.glob("*.png")) == [
        "early_exit_single_1t_accuracy_vs_threshold.png", "early_exit_single_1t_time_vs_redundancy.png"]


def test_an_exit_head_other_than_the_default_is_a_different_model(study, tiny_backbone):
    planned, _ = study
    default = planned.of(EarlyExitTrainKind)[0]
    bare = Experiment(name="ee", data=DataConfig(main="ee_main", redundant="ee_redundant"),
                      train=TrainConfig(epochs=3),
                      early_exit=EarlyExitConfig(backbone=tiny_backbone, redundancy=0.5, forms=["single", "chained"],
                                                 limit=30, repeats=1, sweep=True, exit_head=[]))
    step = EarlyExitTrainKind().plan(bare, Planned())[0]
    assert step.settings.exit_head == () and default.settings.exit_head == (512, 512)
    assert step.key != default.key  # the default stays out of the key: studies trained before keep theirs
