"""The placement sweep end to end on real digits: an exit trained at each point of a two-block backbone, scored on
validation, timed in its deployed LiteRT file at batch 1, the fastest meeting the goal kept; the sweep recorded in
placement.json, the kept model's card and training.json; a goal no point reaches is a one-line error after the
sweep is written; studies plan the sweep from the experiment file."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support import assert_one_line_error

from convbench.artifacts import read_card
from convbench.data import Split
from convbench.early_exit import placement_timing
from convbench.early_exit.measurement import MIX_CHUNK
from convbench.early_exit.placement import (
    PLACEMENT_FILE,
    Candidate,
    PlacementOptions,
    PlacementSweep,
    place_exit,
)
from convbench.errors import ConfigError
from convbench.io import read_json
from convbench.models.early_exit import EXIT_OUTPUT, MAIN_OUTPUT, MacSplit
from convbench.report.early_exit_section import placement_table

SWEEP = ("--main", "ee_main", "--redundant", "ee_redundant", "--redundancy", "0.5", "--exit-after", "auto",
         "--epochs", "2", "--limit", "30", "--repeats", "1")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, tiny_backbone: str) -> tuple[Path, str]:
    from convbench.cli import main

    out = tmp_path_factory.mktemp("placement")
    assert main(["early-exit", "train", *SWEEP, "--backbone", tiny_backbone, "--min-accuracy", "0.5",
                 "--out", str(out)]) == 0
    return out, tiny_backbone


@pytest.mark.slow
def test_sweep_trains_times_and_keeps_the_fastest_point_meeting_the_goal(swept):
    out, backbone = swept
    sweep = PlacementSweep.read(out / PLACEMENT_FILE)
    assert [row.exit_after for row in sweep.rows] == ["block1", "block2"]
    assert sweep.backbone == backbone and sweep.goal == "given" and sweep.min_accuracy == 0.5
    assert sweep.form == "single" and sweep.images == 30 and sweep.redundancy == 0.5
    for row in sweep.rows:
        candidate = read_json(out / "placement" / row.exit_after / "training.json")
        assert row.val_accuracy == candidate["val_accuracy"]  # scored on validation, never on test
        assert row.meets_goal == (row.val_accuracy >= 0.5)
        assert row.time_ms_per_image > 0 and 0 <= row.exit_path_share <= 1
        assert sum(row.macs.values()) > 0 and 0 < row.stem_share < 1
        assert (out / "placement" / row.exit_after / "early_exit.tflite").is_file()  # timed as deployed
    assert sweep.rows[0].stem_share < sweep.rows[1].stem_share
    meeting = [row for row in sweep.rows if row.meets_goal]
    assert meeting, "a two-epoch exit on digits should reach 50 % validation accuracy"
    fastest = min(meeting, key=lambda row: row.time_ms_per_image)
    assert sweep.chosen == fastest.exit_after and [r.chosen for r in sweep.rows].count(True) == 1

    card = read_card(out / "early_exit" / "model.keras")
    assert card.early_exit.exit_after == sweep.chosen
    assert PlacementSweep.from_dict(card.extra["placement"]) == sweep
    report = read_json(out / "training.json")
    assert report["exit_after"] == sweep.chosen and PlacementSweep.from_dict(report["placement"]) == sweep
    assert (out / "baseline" / "model.keras").is_file()
    table = placement_table(sweep)
    assert [row[0] for row in table.rows] == ["block1", "block2"]
    assert [row[-1] == "chosen" for row in table.rows] == [row.chosen for row in sweep.rows]


@pytest.mark.slow
def test_a_goal_no_point_reaches_is_one_line_after_the_sweep_is_written(swept, cli):
    out, backbone = swept
    (out / PLACEMENT_FILE).unlink()
    rc, _, err = cli("early-exit", "train", *SWEEP, "--backbone", backbone, "--min-accuracy", "1", "--out", out)
    assert_one_line_error(rc, err, "no exit placement reaches validation accuracy ≥ 1.0000", "the best")
    sweep = PlacementSweep.read(out / PLACEMENT_FILE)
    assert sweep.chosen is None and not any(row.meets_goal for row in sweep.rows)


def test_placement_options_are_checked():
    for bad in ({"min_accuracy": 1.5}, {"min_accuracy": float("nan")}, {"form": "triple"}, {"threads": 0},
                {"repeats": 0}, {"limit": 1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            PlacementOptions(**bad)


def test_a_sweep_without_its_measurement_is_refused_before_any_training(tiny_backbone, tmp_path):
    """The training API is handed the timer (it imports no exporter or runtime), and says so when it is missing."""
    from convbench.early_exit.training import NetworkOptions, train_early_exit

    with pytest.raises(ConfigError, match="time_placement"):
        train_early_exit("digits", "digits", out=tmp_path / "out",
                         network=NetworkOptions(tiny_backbone, "auto"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_study_plans_a_sweep_and_keeps_one_point_studies_keys(tiny_backbone):
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind
    from convbench.experiment.plan import make_plan
    from convbench.experiment.schema import DataConfig, EarlyExitConfig, Experiment

    def planned(**ee):
        experiment = Experiment(name="place", data=DataConfig(main="ee_main", redundant="ee_redundant"),
                                early_exit=EarlyExitConfig(backbone=tiny_backbone, **ee))
        return next(s for s in make_plan(experiment) if s.kind == EarlyExitTrainKind.name)

    auto = planned(exit_after="auto", min_accuracy=0.9, forms=["chained"], limit=50)
    assert auto.settings.exit_after == "auto" and auto.settings.min_accuracy == 0.9
    assert (auto.settings.place_form, auto.settings.place_limit) == ("chained", 50)
    listed = planned(exit_after=["block2", "block1"])
    assert listed.settings.exit_after == ("block2", "block1") and listed.name.endswith("_block2-block1")
    one = planned(exit_after="block2")
    assert one.settings.min_accuracy is None and "place_form" not in one.settings.model_dump(exclude_defaults=True)
    for bad, culprit in (("block9", "exit_after='block9'"), (["block1", "block1"], "each point once")):
        with pytest.raises(ConfigError, match=rf"early_exit\.exit_after: .*{culprit}.*"):
            planned(exit_after=bad)


@pytest.mark.shared_data  # the redundant sources tested alone name files in ../shared/data
def test_shipped_fruits_experiment_validates_and_plans_the_sweep(tmp_path, shared_data):
    from convbench.experiment import load_experiment, make_plan, shipped_experiments
    from convbench.experiment.kinds.early_exit_train import EarlyExitTrainKind

    assert "fruits360-early-exit" in shipped_experiments()
    stand_in = tmp_path / "data"  # stand-ins for the data paths: this checks the schema, names and points
    stand_in.mkdir()
    experiment = load_experiment("fruits360-early-exit", data={"main": str(stand_in), "redundant": str(stand_in)})
    assert experiment.data.main.startswith("fruits360:") and experiment.data.redundant.startswith("cifar10:")
    ee = experiment.early_exit
    assert ee.backbone == "alexnet" and ee.exit_after == "auto" and ee.min_accuracy is not None
    train = next(s for s in make_plan(experiment) if s.kind == EarlyExitTrainKind.name)
    assert train.settings.exit_after == "auto" and train.settings.place_form == ee.forms[0]
    assert train.settings.place_limit == ee.limit and train.settings.min_accuracy == ee.min_accuracy


class _StandInRunner:
    """A deployed candidate that logs every call as (candidate, image) and takes ``seconds`` per call; it never
    exits (one-hot on class 0)."""

    card = SimpleNamespace(class_names=("zero", "one", "redundant"))
    exited = False

    def __init__(self, name: str, seconds: float, calls: list[tuple[str, int]]) -> None:
        self.name, self.seconds, self.calls, self.image = name, seconds, calls, -1

    def load(self) -> None:
        pass

    def set_input(self, x: np.ndarray) -> None:
        self.image = int(x.flat[0])  # every pixel of image i is i

    def invoke(self) -> None:
        self.calls.append((self.name, self.image))
        time.sleep(self.seconds)

    def get_output(self) -> np.ndarray:
        return np.eye(3, dtype=np.float32)[:1]

    def predict(self, images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in images:
            self.set_input(image[None])
            self.invoke()
            outputs.append(self.get_output())
        return np.concatenate(outputs)


class _StandInModel:
    """A trained candidate as the sweep scores it: the exit at P(redundant) 0.1 for every image."""

    threshold, num_classes = 0.5, 3

    def __init__(self, stem: int) -> None:
        self.stem = stem

    def predict(self, x: np.ndarray, batch_size: int, verbose: int) -> dict[str, np.ndarray]:
        return {EXIT_OUTPUT: np.tile([0.9, 0.1], (len(x), 1)), MAIN_OUTPUT: np.tile([0.8, 0.2], (len(x), 1))}

    def mac_split(self) -> MacSplit:
        return MacSplit(self.stem, 10, 1000 - self.stem)


def test_the_sweep_times_its_candidates_interleaved_not_one_after_another(monkeypatch, tmp_path):
    """Timed one by one, the candidates would be compared across minutes in which the machine drifts: the sweep
    trains them all, then the deployed files take turns chunk by chunk in every round."""
    calls: list[tuple[str, int]] = []
    seconds = {"block1": 2e-4, "block2": 1e-3, "block3": 5e-4}  # block1 is the fastest
    monkeypatch.setattr(placement_timing, "export_early_exit",
                        lambda path, forms: SimpleNamespace(single=path, stem=None))
    monkeypatch.setattr(placement_timing, "open_early_exit_runner",
                        lambda path, threads, threshold: _StandInRunner(path.parent.name, seconds[path.parent.name],
                                                                        calls))
    count, rounds = MIX_CHUNK * 2 + 10, 2  # three chunks per round
    val = Split(np.arange(count, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8),
                np.arange(count) % 3)

    def fit_at(point: str) -> Candidate:
        return Candidate(_StandInModel(100 * int(point[-1])), tmp_path / point / "model.keras", 0.9, val)

    options = PlacementOptions(0.5, repeats=rounds, limit=count, timer=placement_timing.time_placement)
    sweep = place_exit(list(seconds), fit_at, lambda images: images.astype(np.float32), backbone="stand-in",
                       min_accuracy=0.5, goal="given", redundancy=0.5, options=options)

    timed = [name for name, _ in calls[len(seconds) * count:]]  # after each candidate's untimed pass
    switches = sum(a != b for a, b in itertools.pairwise(timed))
    assert switches >= rounds * 3 * (len(seconds) - 1), "the candidates ran in blocks, one after another"
    assert len(timed) == len(seconds) * rounds * (count + 3)  # each chunk: one untimed call, then its images
    spans = {name: (timed.index(name), len(timed) - timed[::-1].index(name)) for name in seconds}
    for a in seconds:
        for b in seconds:
            assert spans[a][0] < spans[b][1], f"{a} timed only after {b} was done"
    assert [row.exit_after for row in sweep.rows] == list(seconds) and sweep.images == count
    assert sweep.chosen == "block1" and [row.chosen for row in sweep.rows] == [True, False, False]
    assert all(row.exit_path_share == 0 and row.time_ms_per_image > 0 for row in sweep.rows)
