"""Model cards: typed data, split and provenance fields; cards written by earlier versions load and write back alike."""

from __future__ import annotations

import json

import pytest

from convbench.artifacts import ModelCard, Provenance, SplitSettings, read_card, write_card
from convbench.data import Preprocessing
from convbench.errors import ModelError

PREPROCESSING = Preprocessing((16, 16), 1).to_dict()
# As convbench.train wrote cards before data, split and source became fields (extra's keys in that order).
TRAINED = {"arch": "m", "width": 1.0, "input_shape": [16, 16, 1], "class_names": ["a", "b"],
           "preprocessing": PREPROCESSING, "params": 10, "macs": 20, "format": "keras", "quantize": "none",
           "sha256": "ab" * 32, "metrics": {"test_accuracy": 0.9},
           "extra": {"data": "digits", "split": {"seed": 3, "val_fraction": 0.2, "test": "held out (20% of train)"},
                     "training": {"epochs": 2}}}
# … and as convbench.export wrote the card of a file exported from it.
EXPORTED = {**TRAINED, "format": "tflite", "quantize": "int8", "sha256": "cd" * 32, "metrics": {"accuracy": 0.8},
            "extra": {**TRAINED["extra"], "source": {"path": "run/model.keras", "sha256": "ab" * 32,
                                                     "metrics": {"test_accuracy": 0.9}},
                      "requested_quantize": "int8", "size_bytes": 1234}}
# … and an early-exit card, which records neither data nor splits.
EARLY_EXIT = {**TRAINED, "extra": {"early_exit": {"backbone": "vgg19", "exit_after": "block1", "l1_weight": 1.0,
                                                  "l2_weight": 1.0, "mix": {"seed": 0},
                                                  "macs": {"stem": 10, "exit_head": 2, "rest": 88},
                                                  "stem_share": 0.1, "exit_share": 0.02},
                                   "training": {"epochs": 2}}}
# … and the card of its single LiteRT file, as convbench.export.early_exit wrote it.
EARLY_EXIT_FILE = {**EARLY_EXIT, "format": "tflite", "extra": {
    "early_exit": {**EARLY_EXIT["extra"]["early_exit"], "threshold": "runtime input", "default_threshold": 0.5,
                   "source_sha256": "ab" * 32, "form": "single", "output": "[P(main), P(redundant), …]",
                   "ops": ["CONV_2D", "IF"]},
    "training": {"epochs": 2}}}


def test_a_card_written_before_the_typed_fields_loads_into_them():
    card = ModelCard.from_dict(json.loads(json.dumps(EXPORTED)))
    assert card.data == "digits"
    assert card.split == SplitSettings(seed=3, val_fraction=0.2, test="held out (20% of train)")
    assert card.source == Provenance("run/model.keras", "ab" * 32, {"test_accuracy": 0.9})
    assert card.extra == {"training": {"epochs": 2}, "requested_quantize": "int8", "size_bytes": 1234}


@pytest.mark.parametrize("written", [TRAINED, EARLY_EXIT, EARLY_EXIT_FILE], ids=["trained", "early_exit", "exit_file"])
def test_cards_write_back_byte_for_byte(written, tmp_path):
    path = tmp_path / "model.keras"
    (tmp_path / "model.keras.json").write_text(json.dumps(written, indent=2) + "\n")
    before = (tmp_path / "model.keras.json").read_bytes()
    write_card(path, read_card(path))
    assert (tmp_path / "model.keras.json").read_bytes() == before


def test_exported_card_round_trip_keeps_every_value():
    card = ModelCard.from_dict(EXPORTED)
    assert card.to_dict() == EXPORTED  # same keys and values ("source" now comes before the training settings)
    assert ModelCard.from_dict(card.to_dict()) == card


def test_early_exit_settings_are_typed():
    card = ModelCard.from_dict(EARLY_EXIT_FILE)
    assert card.early_exit.macs == {"stem": 10, "exit_head": 2, "rest": 88} and card.early_exit.form == "single"
    assert card.early_exit.ops == ("CONV_2D", "IF") and card.early_exit.segment is None
    assert ModelCard.from_dict(TRAINED).early_exit is None


def test_unrecorded_fields_are_none_and_not_written():
    card = ModelCard.from_dict(EARLY_EXIT)
    assert (card.data, card.split, card.source) == (None, None, None)
    assert set(card.to_dict()["extra"]) == {"early_exit", "training"}


def test_typed_fields_are_not_extra_keys():
    with pytest.raises(ValueError, match=r"\['data', 'split'\] are card fields: pass data=, split="):
        ModelCard("m", 1.0, (16, 16, 1), ("a", "b"), Preprocessing((16, 16), 1),
                  extra={"data": "digits", "split": {}})


def test_a_malformed_split_is_an_invalid_card(tmp_path):
    path = tmp_path / "model.keras"
    broken = {**TRAINED, "extra": {**TRAINED["extra"], "split": {"seed": 0, "folds": 5}}}
    (tmp_path / "model.keras.json").write_text(json.dumps(broken))
    with pytest.raises(ModelError, match=r"model\.keras\.json: not a valid model card .*folds"):
        read_card(path)


def test_a_card_records_its_data_paths_absolute(tmp_path, monkeypatch):
    """Relative data paths mean "from where training ran": the card records them resolved, nested specs too, so
    export and bench find the data from any folder; a path that does not exist here is left as given."""
    (tmp_path / "shapes").mkdir()
    monkeypatch.chdir(tmp_path)
    card = ModelCard.from_dict(TRAINED)
    for given, recorded in [("folder:shapes?size=8", f"folder:{tmp_path / 'shapes'}?size=8"),
                            ("folder:missing", "folder:missing"), ("digits", "digits"),
                            ("mix?main=digits&redundant=folder%3Ashapes",
                             f"mix?main=digits&redundant=folder%3A{str(tmp_path / 'shapes').replace('/', '%2F')}"),
                            ("not a spec(", "not a spec(")]:
        write_card(tmp_path / "model.keras", card.evolve(data=given))
        assert read_card(tmp_path / "model.keras").data == recorded
