"""The early-exit model: structure, the joint loss L = L1 + δ·L2 by hand, the metrics by hand, training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convbench.early_exit.measurement import decide, decision_metrics, ideal_saving
from convbench.errors import ModelError
from convbench.models.early_exit import early_exit
from convbench.models.macs import count_macs

# A batch of 4 images over C = 4 classes (main 0, 1, 2; redundant 3): two main images, two redundant ones.
LABELS = np.array([0, 2, 3, 3])
EXIT = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]], np.float32)  # (P(main), P(redundant))
MAIN = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.25, 0.25], [0.2, 0.2, 0.6]], np.float32)


@pytest.fixture(scope="module")
def vgg_exit() -> keras.Model:
    return early_exit((32, 32, 1), 4, width=0.0625)


def test_structure_follows_vgg19_with_named_exit_block(vgg_exit):
    names = [layer.name for layer in vgg_exit.layers]
    for name in ("block1_pool", "block5_pool", "fc1", "fc2", "predictions", "exit_pool", "exit_flatten",
                 "exit_fc1", "exit_fc2", "exit_predictions"):
        assert name in names
    assert vgg_exit.get_layer("exit_pool").input.name == vgg_exit.get_layer("block1_pool").output.name
    out = vgg_exit(np.zeros((2, 32, 32, 1), np.float32))
    assert out["exit"].shape == (2, 2) and out["main"].shape == (2, 3)
    assert vgg_exit.num_classes == 4 and vgg_exit.exit_after == "block1"


def test_exit_after_any_block_and_unknown_block_is_refused():
    assert early_exit((32, 32, 1), 3, width=0.0625, exit_after="block3").mac_split().stem_share > 0.3
    with pytest.raises(ModelError, match=r"exit_after='block9'.*block1, block2, block3, block4, block5"):
        early_exit((32, 32, 1), 3, width=0.0625, exit_after="block9")
    with pytest.raises(ModelError, match="num_classes=2"):
        early_exit((32, 32, 1), 2, width=0.0625)


@pytest.mark.parametrize("head", [(0,), (128, -1), (1.5,)])
def test_an_exit_head_of_anything_but_positive_units_is_refused(head):
    with pytest.raises(ModelError, match="hidden units must be positive integers"):
        early_exit((32, 32, 1), num_classes=11, width=0.25, head=head)


def test_mac_split_and_ideal_saving(vgg_exit):
    split = vgg_exit.mac_split()
    assert split.stem + split.exit_head + split.rest == sum(row.macs for row in count_macs(vgg_exit))
    assert 0 < split.exit_share < split.stem_share < 0.5  # channels rounded up to 8 make block 1 heavy at α 1/16
    vgg_exit.segments()  # works on a copy: the model stays measurable
    assert vgg_exit.mac_split() == split
    assert ideal_saving(0.57, 0.1, 0.01) == pytest.approx(0.57 * 0.89 - 0.43 * 0.01)
    assert ideal_saving(0.0, 0.1, 0.01) == pytest.approx(-0.01)


def _hand_loss(labels, exit_probs, main_probs):
    redundant = labels == 3
    l1 = -np.log(np.where(redundant, exit_probs[:, 1], exit_probs[:, 0]))
    l2 = np.where(redundant, 0.0, -np.log(main_probs[np.arange(len(labels)), np.minimum(labels, 2)]))
    return l1.mean(), l2.mean()


@pytest.mark.parametrize("rows", [[0, 1], [2, 3], [0, 1, 2, 3]], ids=["delta=1", "delta=0", "both"])
def test_loss_is_l1_plus_delta_l2_by_hand(vgg_exit, rows):
    y, y_pred = LABELS[rows], {"exit": EXIT[rows], "main": MAIN[rows]}
    l1, l2 = _hand_loss(*(a[rows] for a in (LABELS, EXIT, MAIN)))
    loss = float(vgg_exit.compute_loss(y=y, y_pred=y_pred))
    assert loss == pytest.approx(l1 + l2, rel=1e-5)
    if rows == [2, 3]:
        assert l2 == 0.0  # δ = 0: the main head's output on redundant images does not count
    assert float(vgg_exit.l1_tracker.result()) > 0


def test_loss_weights_scale_each_term():
    model = early_exit((32, 32, 1), 4, width=0.0625, l1_weight=2.0, l2_weight=0.5)
    l1, l2 = _hand_loss(LABELS, EXIT, MAIN)
    assert float(model.compute_loss(y=LABELS, y_pred={"exit": EXIT, "main": MAIN})) == \
        pytest.approx(2.0 * l1 + 0.5 * l2, rel=1e-5)


def test_metrics_on_hand_made_predictions(vgg_exit):
    vgg_exit.reset_metrics()
    got = {k: float(v) for k, v in vgg_exit.compute_metrics(None, LABELS, {"exit": EXIT, "main": MAIN}).items()}
    # exits (P(redundant) ≥ 0.5): F, T, T, F.  image 0: main, passes, head right → correct; image 1: main but
    # exits → wrong; image 2: redundant, exits → correct; image 3: redundant, passes → wrong.
    assert got["accuracy"] == pytest.approx(0.5)
    assert got["exit_accuracy"] == pytest.approx(0.5)  # right on images 0 and 2
    assert got["main_accuracy"] == pytest.approx(1.0)  # head right on both main images (0 → 0, 2 → 2)
    assert got["exit_precision"] == pytest.approx(0.5)  # exits on 1 (main) and 2 (redundant)
    assert got["exit_recall"] == pytest.approx(0.5)  # redundant 2 exits, 3 does not
    numpy = decision_metrics(LABELS, decide(EXIT[:, 1], MAIN, 0.5), 4)
    for key in ("accuracy", "exit_accuracy", "exit_precision", "exit_recall"):
        assert numpy[key] == pytest.approx(got[key])
    assert decision_metrics(LABELS, decide(EXIT[:, 1], MAIN, 0.75), 4)["exit_share"] == 0.25


def test_tiny_model_trains_and_its_loss_falls(tiny_backbone, digit_mix):
    model = early_exit((32, 32, 1), digit_mix.num_classes, backbone=tiny_backbone, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    keras.utils.set_random_seed(0)
    x = digit_mix.train.images.astype(np.float32) / 255.0
    history = model.fit(x, digit_mix.train.labels, epochs=6, batch_size=64, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    np.testing.assert_allclose(history["loss"], np.add(history["l1"], history["l2"]), rtol=1e-4)


def test_saved_model_round_trips_with_its_settings(tmp_path, vgg_exit):
    path = tmp_path / "m.keras"
    vgg_exit.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(vgg_exit) and loaded.exit_after == "block1" and loaded.num_classes == 4
    x = np.random.default_rng(0).random((2, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded(x)["exit"], vgg_exit(x)["exit"], atol=1e-6)
