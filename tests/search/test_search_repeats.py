"""Repeated validation splits: a trial meeting the floor on its first split is trained again on the others, its
validation accuracy is the worst split's, the shipped model stays the first split's, every repeat keeps the test
split, and a trial below the floor costs no repeat."""

from __future__ import annotations

from pathlib import Path

import pytest
from search.searchkit import write_space
from support import assert_one_line_error

from convbench.artifacts import read_card
from convbench.errors import ConfigError
from convbench.report.search_section import write_search_report
from convbench.search import search
from convbench.search.trial import REPEAT_DIR

ONE_POINT = """
input_sizes = [16]
quantize = ["none"]

[architectures.stagenet]
width = [0.5, 0.5]
options = { stage_channels = [[8, 16]], depths = [1], stem_channels = [8] }
"""


@pytest.mark.slow
def test_a_trial_meeting_the_floor_is_validated_on_every_split_and_the_worst_counts(tmp_path: Path):
    out = tmp_path / "search"
    result = search("digits", floor=0.05, out=out, budget="10m", max_trials=1, epochs=1, batch_size=16,
                    space=write_space(tmp_path, ONE_POINT), val_repeats=3, progress=False)
    (trial,) = result.trials
    assert trial.state == "complete" and len(trial.val_accuracy_repeats) == 3
    assert trial.val_accuracy == min(trial.val_accuracy_repeats)
    shipped = read_card(out / trial.folder / "model.keras")
    assert trial.model_file.startswith(trial.folder) and REPEAT_DIR not in trial.model_file
    assert shipped.split.val_seed is None and shipped.metrics["val_accuracy"] >= trial.val_accuracy
    cards = [read_card(out / trial.folder / f"{REPEAT_DIR}-{r}" / "model.keras") for r in (1, 2)]
    assert [c.split.val_seed for c in cards] == [shipped.split.seed + 1, shipped.split.seed + 2]
    assert all(c.split.seed == shipped.split.seed for c in cards)  # one test split for all: the search seed's
    write_search_report(result, out)
    assert "random, 3 (the worst counts)" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_trial_below_the_floor_on_its_first_split_is_not_repeated(tmp_path: Path):
    out = tmp_path / "search"
    result = search("digits", floor=1.0, out=out, budget="10m", max_trials=1, epochs=1, batch_size=16,
                    space=write_space(tmp_path, ONE_POINT), val_repeats=3, progress=False)
    (trial,) = result.trials
    assert trial.state == "complete" and trial.val_accuracy < 1.0
    assert trial.val_accuracy_repeats == [trial.val_accuracy]
    assert not list((out / trial.folder).glob(f"{REPEAT_DIR}-*"))
    with pytest.raises(ConfigError, match="val_repeats"):  # a resume must keep the number of splits
        search("digits", floor=1.0, out=out, budget="10m", max_trials=2, epochs=1, batch_size=16,
               space=write_space(tmp_path, ONE_POINT), val_repeats=2, resume=True, progress=False)


@pytest.mark.parametrize("repeats", [0, -1, 1.5, True])
def test_bad_repeats_are_one_line_errors_before_any_work(tmp_path: Path, repeats):
    with pytest.raises(ConfigError, match="val_repeats"):
        search("digits", floor=0.5, out=tmp_path / "s", val_repeats=repeats, progress=False)
    assert not (tmp_path / "s").exists()


def test_the_cli_refuses_zero_repeats(cli, tmp_path: Path):
    rc, _, err = cli("search", "--floor", "0.5", "--val-repeats", "0", "--out", tmp_path / "s")
    assert_one_line_error(rc, err, "val-repeats")
