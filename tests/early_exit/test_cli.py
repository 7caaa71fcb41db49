"""`convbench early-exit train|eval` end to end on real digits, and one-line errors for bad input."""

from __future__ import annotations

from collections import Counter

import pytest
from support import assert_one_line_error

from convbench.artifacts import read_card
from convbench.export.early_exit import export_parts, graph_ops
from convbench.io import read_json
from convbench.vocabulary import DEFAULT_EXIT_HEAD

TABLE_COLUMNS = ("redundancy %", "loss", "accuracy", "exit accuracy", "total time (s)", "per-image time (ms)")


def test_the_default_exit_head_is_recorded_on_the_card(trained_dir):
    card = read_card(trained_dir / "early_exit" / "model.keras")
    assert card.early_exit.exit_head == DEFAULT_EXIT_HEAD
    assert read_json(trained_dir / "training.json")["exit_head"] == list(DEFAULT_EXIT_HEAD)


def test_exit_head_none_trains_the_bare_exit_block_and_records_it(cli, tiny_backbone, trained_dir, tmp_path):
    rc, _, err = cli(*TRAIN, "--redundant", "ee_redundant", "--backbone", tiny_backbone, "--exit-head", "none",
                     "--out", tmp_path / "run")
    assert rc == 0, err
    model_path = tmp_path / "run" / "early_exit" / "model.keras"
    card = read_card(model_path)
    assert card.early_exit.exit_head == ()
    parts = export_parts(model_path, tmp_path / "parts")
    head = Counter(graph_ops(parts.exit_head.read_bytes())["main"])
    assert head["FULLY_CONNECTED"] == 1  # the 2-way softmax Dense alone
    default = read_card(trained_dir / "early_exit" / "model.keras").early_exit  # the same backbone, default head
    assert card.early_exit.macs["exit_head"] < default.macs["exit_head"] / 10


def test_train_writes_both_models_with_cards_and_a_report(trained_dir):
    report = read_json(trained_dir / "training.json")
    assert report["class_names"][-1] == "redundant" and report["mix"]["redundancy"] == 0.5
    assert report["exit_share"] > 0 and 0 < report["stem_share"] < 1
    assert {"accuracy", "exit_accuracy", "exit_precision", "exit_recall", "l1", "l2", "loss", "main_accuracy"} <= \
        set(report["early_exit"]["test_metrics"])
    ee_card, base_card = (read_card(trained_dir / part / "model.keras") for part in ("early_exit", "baseline"))
    assert ee_card.early_exit.exit_after == "block1" and base_card.early_exit is None
    assert ee_card.class_names == base_card.class_names


def test_eval_prints_the_reference_table_and_sweeps(cli, trained_dir, tmp_path):
    rc, out, err = cli("early-exit", "eval", trained_dir, "--limit", "40", "--repeats", "1", "--sweep")
    assert rc == 0, err
    for column in TABLE_COLUMNS:
        assert column in out
    assert "baseline" in out and "early exit" in out and "analytic ideal" in out
    result = read_json(trained_dir / "eval.json")
    assert [row["model"] for row in result["rows"]] == ["baseline", "early exit"]
    assert result["timing"]["exit_path_images"] + result["timing"]["full_path_images"] == result["rows"][0]["images"]
    assert [row["redundancy"] for row in result["sweep"]["by_redundancy"]] == pytest.approx(
        [i / 10 for i in range(10)])
    assert len(result["sweep"]["by_threshold"]) > 5
    for plot in ("time_vs_redundancy.png", "accuracy_vs_threshold.png"):
        assert (trained_dir / plot).read_bytes()[:4] == b"\x89PNG"


def test_eval_chained_form_with_a_threshold(cli, trained_dir):
    rc, _, err = cli("early-exit", "eval", trained_dir, "--runtime-form", "chained", "--threshold", "0.3",
                     "--redundancy", "0.2", "--limit", "30", "--repeats", "1")
    assert rc == 0, err
    result = read_json(trained_dir / "eval.json")
    assert result["form"] == "chained" and result["threshold"] == 0.3 and result["rows"][1]["redundancy"] == 0.2


TRAIN = ("early-exit", "train", "--main", "ee_main", "--epochs", "1")


@pytest.mark.parametrize(("args", "culprit"), [
    (("--redundant", "ee_main"), "has main-set classes"),
    (("--redundant", "ee_redundant", "--redundancy", "1"), "redundancy=1.0"),
    (("--redundant", "ee_redundant", "--redundancy", "-0.1"), "redundancy=-0.1"),
    (("--redundant", "ee_redundant", "--exit-after", "block9"), "exit_after='block9'"),
    (("--redundant", "ee_redundant", "--exit-head", "0"), "--exit-head"),
    (("--redundant", "ee_redundant", "--exit-head", "128,wide"), "'128,wide'"),
])
def test_train_refuses_bad_input_in_one_line(cli, tmp_path, args, culprit):
    rc, _, err = cli(*TRAIN, *args, "--out", tmp_path / "run")
    assert_one_line_error(rc, err, culprit)
    assert not (tmp_path / "run" / "early_exit" / "model.keras").exists()


@pytest.mark.parametrize(("args", "culprit"), [
    (("--threshold", "0"), "threshold=0.0"),
    (("--threshold", "1"), "threshold=1.0"),
    (("--redundancy", "1.5"), "redundancy=1.5"),
    (("--runtime-form", "tree"), "form='tree'"),
])
def test_eval_refuses_bad_options_in_one_line(cli, trained_dir, args, culprit):
    assert_one_line_error(*cli("early-exit", "eval", trained_dir, *args)[::2], culprit)


def test_early_exit_commands_refuse_a_plain_model(cli, trained_dir):
    plain = trained_dir / "baseline"
    assert_one_line_error(*cli("early-exit", "eval", plain)[::2], "no early_exit/model.keras")
    assert_one_line_error(*cli("early-exit", "eval", plain / "model.keras")[::2], "plain")
