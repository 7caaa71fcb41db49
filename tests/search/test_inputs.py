"""Every bad input of a search is a one-line error naming it, raised before any work (nothing written); the space
comes from the registry; the pruning rule and the recommendation follow their stated rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from search.searchkit import free_port, write_space
from support import assert_one_line_error

from convbench.data import Dataset, load
from convbench.errors import ConfigError
from convbench.models import defaults, list_models
from convbench.search import (
    STUDY_DB,
    Latency,
    TrialParams,
    TrialRecord,
    default_space,
    load_space,
    parse_budget,
    parse_deployment,
    recommend,
    search,
)
from convbench.search.engine import finalists as engine_finalists
from convbench.search.records import FinalTiming
from convbench.search.trial import rungs, should_prune


def test_the_default_space_is_every_registered_architecture_with_its_builders_ranges():
    space = default_space()
    assert sorted(space.architectures) == list_models()
    for arch, arch_space in space.architectures.items():
        assert arch_space.width == defaults(arch).width_range
        assert arch_space.options == dict(defaults(arch).search_options)


def test_a_space_file_narrows_the_architectures_and_keeps_their_registered_options(tmp_path: Path):
    space = load_space(write_space(tmp_path, 'input_sizes = [32]\n[architectures.mobilenet_v2]\nwidth = [0.2, 0.3]\n'))
    assert list(space.architectures) == ["mobilenet_v2"]
    assert space.architectures["mobilenet_v2"].width == (0.2, 0.3)
    assert space.architectures["mobilenet_v2"].options == dict(defaults("mobilenet_v2").search_options)
    assert space.input_sizes == (32,)


@pytest.mark.parametrize(("text", "needle"), [
    ("[architectures.resnet_9000]\n", "resnet_9000"),
    ("colour = 3\n", "colour"),
    ("[architectures.mobilenet_v2]\ndepth = [1, 2]\n", "depth"),
    ("[architectures.mobilenet_v2]\noptions = { kernel = [3] }\n", "kernel"),
    ("[architectures]\n", "empty search space"),
    ("input_sizes = []\n", "empty search space"),
    ("quantize = ['int4']\n", "int4"),
    ("input_sizes = [8]\n[architectures.mobilenet_v2]\n", "empty search space"),
    ("[architectures.mobilenet_v2]\nwidth = [0.5, 0.1]\n", "width"),
    # every value is checked up front, as the command line's options are (issue 27: they ran, every trial infeasible)
    ("[architectures.stagenet]\noptions = { conv = ['dilated'] }\n", '"dilated"'),
    ("[architectures.vgg19]\noptions = { dropout = ['high'] }\n", '"high"'),
    ("[architectures.stagenet]\noptions = { stage_channels = [[8, 16, 32, 64]] }\n", "stage_channels"),
    ("[architectures.mobilenet_v2]\nwidth = [50, 100]\n", "width=50"),
    ("[architectures.mobilenet_v2]\nwidth = [0.5, inf]\n", "width=inf"),
    ("input_sizes = [100000]\n", "input_sizes=100000"),
    ("threads = [0]\n", "threads=0"),
    ("threads = [5000]\n", "threads=5000"),
])
def test_bad_space_files_are_one_line_errors_naming_the_culprit(tmp_path: Path, cli, text: str, needle: str):
    path = write_space(tmp_path, text)
    with pytest.raises(ConfigError, match=needle):
        load_space(path)
    out = tmp_path / "out"
    rc, _, err = cli("search", "--floor", "0.9", "--space", path, "--out", out, "--quiet")
    assert_one_line_error(rc, err, needle)
    assert not out.exists()  # checked before anything was written


def test_an_option_value_no_trial_can_build_is_named_with_file_key_and_value(tmp_path: Path, cli):
    path = write_space(tmp_path, '[architectures.stagenet]\noptions = { conv = ["dilated"] }\n')
    out = tmp_path / "out"
    rc, _, err = cli("search", "--floor", "0.9", "--space", path, "--out", out, "--quiet")
    assert_one_line_error(rc, err, str(path), "architectures.stagenet.options.conv", '"dilated"',
                          "conv must be one of separable, regular")
    assert not out.exists()  # no trial ran


def test_values_that_build_only_together_are_accepted(tmp_path: Path):
    """Per-stage lists fit the stage_channels of as many stages: each value builds with some choice of the others."""
    space = load_space(write_space(tmp_path, "input_sizes = [16]\n[architectures.stagenet]\noptions = { "
                                             "stage_channels = [[8, 16], [8, 16, 32]], depths = [[1, 2], [1, 1, 2]], "
                                             "conv = [['regular', 'separable'], 'separable'] }\n"))
    assert len(space.architectures["stagenet"].options["depths"]) == 2


def test_a_space_width_goes_through_the_same_check_as_the_width_option(tmp_path: Path, cli):
    _, _, refused = cli("train", "--arch", "mobilenet_v2", "--width", "50", "--out", tmp_path / "model")
    rc, _, err = cli("search", "--floor", "0.9", "--out", tmp_path / "out", "--quiet",
                     "--space", write_space(tmp_path, "[architectures.mobilenet_v2]\nwidth = [50, 100]\n"))
    assert_one_line_error(rc, err, "architectures.mobilenet_v2.width")
    assert refused.split("width must")[1].split(", got")[0] in err  # "… a finite number in (0, 4]"
    assert "width must be a finite number in (0, 4], got width=50" in err


def test_an_experiment_search_space_goes_through_the_same_checks(tmp_path: Path, cli):
    space = write_space(tmp_path, '[architectures.stagenet]\noptions = { conv = ["dilated"] }\n')
    study = tmp_path / "study.toml"
    study.write_text(f'name = "s"\n[search]\nfloor = 0.9\nspace = "{space.as_posix()}"\n', encoding="utf-8")
    rc, _, err = cli("run", study, "--out", tmp_path / "out", "--dry-run")
    assert_one_line_error(rc, err, str(space), "architectures.stagenet.options.conv", '"dilated"')


@pytest.mark.parametrize("target", ["litert:5000", "litert:0", "litert:x"])
def test_a_target_thread_count_out_of_range_is_refused(target: str):
    with pytest.raises(ConfigError, match="target threads"):
        parse_deployment(target)


def test_resume_where_no_search_is_is_refused(tmp_path: Path, cli):
    out = tmp_path / "out"
    rc, _, err = cli("search", "--floor", "0.9", "--out", out, "--resume", "--quiet")
    assert_one_line_error(rc, err, "--resume", str(out), "holds no search")
    assert not out.exists()  # nothing started afresh
    out.mkdir()
    with pytest.raises(ConfigError, match="holds no search to resume"):
        search(floor=0.9, out=out, resume=True, progress=False)
    assert list(out.iterdir()) == []


def test_resume_on_a_storage_without_the_search_is_refused(tmp_path: Path, cli):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    rc, _, err = cli("search", "--floor", "0.9", "--out", tmp_path / "out", "--storage", url, "--resume", "--quiet")
    assert_one_line_error(rc, err, "--resume", "holds no search")


@pytest.mark.parametrize("floor", ["0", "-0.1", "1.5"])
def test_a_floor_outside_0_1_is_refused(tmp_path: Path, cli, floor: str):
    rc, _, err = cli("search", "--floor", floor, "--out", tmp_path / "out", "--quiet")
    assert_one_line_error(rc, err, "floor", floor)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cap", ["0", "-1", "inf", "nan"])
def test_a_max_latency_that_is_not_a_positive_number_is_refused(tmp_path: Path, cli, cap: str):
    rc, _, err = cli("search", "--floor", "0.9", "--max-latency", cap, "--out", tmp_path / "out", "--quiet")
    assert_one_line_error(rc, err, "max-latency")
    with pytest.raises(ConfigError, match="max_latency"):
        search(floor=0.9, out=tmp_path / "out", max_latency=float(cap), progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("budget", ["0", "0m", "0h0m", "soon", "-5"])
def test_a_zero_or_unreadable_budget_is_refused(tmp_path: Path, cli, budget: str):
    rc, _, err = cli("search", "--floor", "0.9", "--budget", budget, "--out", tmp_path / "out", "--quiet")
    assert_one_line_error(rc, err, "budget")
    assert not (tmp_path / "out").exists()


def test_budgets_read_as_stated():
    assert parse_budget("60m") == 3600
    assert parse_budget("1h30m") == 5400
    assert parse_budget("90s") == 90
    assert parse_budget(2.5) == 2.5


def test_targets_name_a_runtime_that_runs_an_exported_file_and_a_thread_count():
    assert (parse_deployment("litert:2").runtime, parse_deployment("litert:2").threads) == ("litert", 2)
    assert parse_deployment("onnxruntime").threads == 1
    for bad, needle in (("tpu:1", "tpu"), ("keras:1", "keras"), ("litert:0", "0")):
        with pytest.raises(ConfigError, match=needle):
            parse_deployment(bad)


def test_a_dataset_with_one_class_is_refused_before_training(tmp_path: Path):
    digits = load("digits")
    zeros = digits.train.take(np.flatnonzero(digits.train.labels == 0))
    one_class = Dataset("zeros", ("0",), zeros, None, "zeros")
    with pytest.raises(ConfigError, match="one class"):
        search(one_class, floor=0.9, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_group_validation_split_of_data_without_groups_is_refused_before_training(tmp_path: Path, cli):
    rc, _, err = cli("search", "--floor", "0.9", "--val-split", "groups", "--out", tmp_path / "out", "--quiet")
    assert_one_line_error(rc, err, "groups")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_ray_address_is_a_one_line_error(tmp_path: Path, cli):
    address = f"127.0.0.1:{free_port()}"
    rc, _, err = cli("search", "--floor", "0.9", "--ray", address, "--out", tmp_path / "out", "--quiet")
    assert_one_line_error(rc, err, address)
    assert not (tmp_path / "out").exists()


def test_an_output_folder_holding_a_search_is_refused_without_resume(tmp_path: Path, cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / STUDY_DB).write_bytes(b"")
    rc, _, err = cli("search", "--floor", "0.9", "--out", out, "--quiet")
    assert_one_line_error(rc, err, "--resume")
    assert [p.name for p in out.iterdir()] == [STUDY_DB]


def test_pruning_is_successive_halving_on_the_earlier_trials_per_epoch_scores():
    assert rungs(9) == [1, 3]
    assert rungs(1) == []
    earlier = ((0.90, 0.95, 0.97), (0.85, 0.90, 0.93), (0.80, 0.85, 0.90))
    assert should_prune(earlier, [0.50])  # below the best third at the first rung
    assert not should_prune(earlier, [0.99])
    assert not should_prune((), [0.10])  # the first trial has no one to lose against
    # fewer than η earlier trials at this epoch: no verdict yet (a single seed trained in full must not decide)
    assert not should_prune(earlier[:2], [0.50])
    assert not should_prune((*earlier[:2], (0.99,)), [0.90, 0.91, 0.50])  # only two reached epoch 3 ...
    assert should_prune(earlier, [0.90, 0.91, 0.50])  # ... three did


def _record(number: int, median: float, half_width: float, val_accuracy: float, val_loss: float) -> TrialRecord:
    return TrialRecord(number=number, params=TrialParams(arch="stagenet", width=0.5, input_size=16), state="complete",
                       val_accuracy=val_accuracy, val_loss=val_loss,
                       latency=Latency(median_ms=median, ci95_low_ms=median - half_width,
                                       ci95_high_ms=median + half_width))


def test_the_recommendation_is_the_fastest_finalist_unless_tied_then_ranked_by_validation():
    records = [_record(0, 1.00, 0.01, 1.0, 0.30),   # fastest
               _record(1, 1.01, 0.01, 1.0, 0.05),   # tied with it on latency, lower validation loss
               _record(2, 0.50, 0.01, 0.90, 0.01),  # fastest of all but below the floor
               _record(3, 2.00, 0.01, 1.0, 0.01)]   # clearly slower
    # without the finalists timed side by side, separately timed trials are not compared: the fastest
    assert recommend(records, floor=0.99) == 0
    finalists = [0, 1]  # 3 is more than 1.5x slower: not a finalist
    assert [r.number for r in engine_finalists(records, floor=0.99)] == finalists
    tied = FinalTiming(finalists=finalists, latency=[r.latency for r in records[:2]], rounds=10, tied=[0, 1],
                       clear=False, statements=[])
    assert recommend(records, 0.99, final_timing=tied) == 1  # tied on speed: the lower validation loss
    ahead = tied.model_copy(update={"tied": [0], "clear": True})
    assert recommend(records, 0.99, final_timing=ahead) == 0  # clearly ahead: the fastest, whatever its loss
    assert recommend(records, floor=0.5) == 2
    assert recommend(records[2:3], floor=0.99) is None


STUDY = """
name = "tiny-search"
[data]
main = "digits"
[search]
floor = 0.9
budget = "{budget}"
space = "{space}"
"""


def test_a_study_with_a_search_section_plans_a_search_step(tmp_path: Path, cli):
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(budget="5m", space=write_space(tmp_path)), encoding="utf-8")
    rc, out, err = cli("run", study, "--out", tmp_path / "out", "--dry-run", "--no-history")
    assert rc == 0, err
    assert "search" in out and "floor 0.9 litert:1" in out


def test_a_bad_search_section_fails_the_plan_in_one_line(tmp_path: Path, cli):
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(budget="0m", space=write_space(tmp_path)), encoding="utf-8")
    rc, _, err = cli("run", study, "--out", tmp_path / "out", "--dry-run", "--no-history")
    assert_one_line_error(rc, err, "budget")


def test_a_bad_max_latency_in_a_search_section_fails_the_plan_in_one_line(tmp_path: Path, cli):
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(budget="5m", space=write_space(tmp_path)) + "max_latency = 0\n", encoding="utf-8")
    rc, _, err = cli("run", study, "--out", tmp_path / "out", "--dry-run", "--no-history")
    assert_one_line_error(rc, err, "max_latency")


def _rounds(median_ms: float, drift: np.ndarray, busy: bool = False):
    """A finalist's inference as one interleaved run leaves it: 10 rounds sharing the run's drift."""
    from convbench.bench import Measurement, TaskSpec
    from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
    from convbench.bench.rounds import INTERLEAVING_KEY

    rounds = [Measurement(TaskSpec("t"), [1e-3 * median_ms * d] * 5) for d in drift]
    pooled = Measurement.merge(rounds)[0]
    pooled.metadata.update({INTERLEAVING_KEY: "finalists",
                            MACHINE_KEY: MachineLoad((0.1, 0.1), 0.9 if busy else 0.0, 5.0, 2).to_dict()})
    return pooled


@pytest.mark.parametrize(("second_ms", "busy", "tied", "recommended"), [
    (1.0, False, [0, 1], 1),   # trial 1 measured 20 % slower alone, side by side as fast: validation decides
    (2.0, False, [0], 0),      # side by side trial 0 is clearly ahead: the fastest, whatever its validation loss
    (2.0, True, [0], 0),       # the same on a busy machine: still trial 0, but not called clear
])
def test_the_search_times_its_finalists_side_by_side_and_recommends_on_that(monkeypatch, tmp_path, second_ms, busy,
                                                                            tied, recommended):
    from types import SimpleNamespace

    from convbench.search import engine

    records = [r.model_copy(update={"model_file": f"trials/{r.number}/model.tflite"})
               for r in (_record(0, 1.00, 0.01, 1.0, 0.30), _record(1, 1.20, 0.01, 1.0, 0.05),
                         _record(2, 2.00, 0.01, 1.0, 0.01))]  # trial 2 is more than 1.5x slower: not a finalist
    drift = np.random.default_rng(0).uniform(0.6, 1.4, 10)
    timed = []

    def side_by_side(paths, runtime, threads, *, runs, min_seconds):
        timed.append([p.relative_to(tmp_path).as_posix() for p in paths])
        first = _rounds(1.0, drift, busy)
        flips = np.where(np.arange(10) % 2 == 0, 1.1, 0.9) if second_ms < 1.5 else 1.0  # rounds that disagree
        second = _rounds(second_ms, drift * flips, busy)
        return [first, second]

    monkeypatch.setattr(engine, "time_side_by_side", side_by_side)
    search = engine._Search.__new__(engine._Search)
    search.settings = SimpleNamespace(floor=0.99, max_latency_ms=None, target=SimpleNamespace(runtime="litert"))
    search.out, search.timing, search.final_timing = tmp_path, engine.Timing(), None
    monkeypatch.setattr(search, "records", lambda: records)
    search.time_finalists()
    final = search.final_timing
    assert timed == [["trials/0/model.tflite", "trials/1/model.tflite"]]
    assert final.finalists == [0, 1] and final.rounds == 10 and final.tied == tied
    assert final.clear is (tied == [0] and not busy) and (final.busy is not None) is busy
    assert recommend(records, 0.99, final_timing=final) == recommended


def test_parameter_importance_says_nothing_on_the_terminal():
    """Every finished search printed Optuna's "PedAnovaImportanceEvaluator computes the importances of params to
    achieve low `target` values" as a convbench warning: the evaluator is named, the targets oriented (validation
    accuracy negated), and the note heeded."""
    import warnings

    import optuna

    from convbench.search.engine import _importance

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"],
                                sampler=optuna.samplers.RandomSampler(0))
    for i in range(12):
        trial = study.ask()
        a, b = trial.suggest_float("a", 0, 1), trial.suggest_categorical("b", ["x", "y"])
        study.tell(trial, [a, 1 + (b == "x") + 0.01 * i, 100.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = _importance(study)
    assert [str(w.message) for w in caught] == []
    assert set(found) == {"val_accuracy", "latency"} and all(set(v) == {"a", "b"} for v in found.values())
