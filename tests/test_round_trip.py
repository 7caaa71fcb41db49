"""Every file convbench writes, convbench reads again: each kind of artifact is loaded, exported, benched and
compared from another working directory than the one it was made in (issue 15).

The artifacts are made once, by the CLI as a user would, from data given by *relative* paths: a plain model
(``train``) with its ``.tflite`` and ``.onnx`` exports, and an early-exit run (``early-exit train``) with its
baseline, the baseline's ``.tflite`` and the early-exit model's single-file and chained LiteRT forms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convbench.artifacts import read_card
from convbench.bench import BenchResult
from convbench.cli import main
from convbench.data import DataSpec, load
from convbench.export.early_exit import export_early_exit
from convbench.runtime import open_runner

pytestmark = pytest.mark.slow

TINY = ("--width", "0.0625", "--input-size", "32", "--epochs", "1", "--batch-size", "16")
KINDS = {  # artifact kind -> its path in the folder the artifacts were made in
    "plain.keras": "plain/model.keras",
    "plain.tflite": "plain/model.float32.tflite",
    "plain.onnx": "plain/model.onnx",
    "early_exit.keras": "ee/early_exit/model.keras",
    "baseline.keras": "ee/baseline/model.keras",
    "baseline.tflite": "ee/baseline/model.float32.tflite",
    "early_exit.single.tflite": "ee/exported/early_exit.tflite",
    "early_exit.chained.tflite": "ee/exported/early_exit_stem.tflite",
}
KERAS_KINDS = [kind for kind in KINDS if kind.endswith(".keras")]
QUICK_BENCH = ("--runs", "3", "--min-seconds", "0.01", "--warmup", "1", "--warmup-seconds", "0.01",
               "--load-repeats", "1")


def _write_class_folders(root: Path, levels: dict[str, tuple[int, int]], per_class: int, seed: int) -> None:
    """8x8 grayscale PNGs per class folder, pixels drawn uniformly from that class's ``(low, high)`` range."""
    rng = np.random.default_rng(seed)
    for name, (low, high) in levels.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(low, high, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")


def _cli(*args: str) -> None:
    assert main([str(a) for a in args]) == 0, args


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every artifact kind was made in, by the CLI, from data named by relative paths."""
    root = tmp_path_factory.mktemp("made")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        _write_class_folders(root / "shapes", {"dark": (0, 90), "light": (160, 256)}, per_class=40, seed=0)
        _write_class_folders(root / "noise", {"noise": (0, 256)}, per_class=40, seed=1)
        _cli("train", "--arch", "vgg19", "--data", "folder:shapes", "--out", "plain", *TINY)
        _cli("export", "plain/model.keras", "--to", "tflite", "--out", KINDS["plain.tflite"])
        _cli("export", "plain/model.keras", "--to", "onnx")
        _cli("early-exit", "train", "--main", "folder:shapes", "--redundant", "folder:noise", "--out", "ee",
             "--max-train", "60", *TINY)
        _cli("export", KINDS["baseline.keras"], "--to", "tflite", "--out", KINDS["baseline.tflite"])
        export_early_exit(KINDS["early_exit.keras"], "ee/exported")
    for relative in KINDS.values():
        assert (root / relative).is_file(), relative
    return root


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Another working directory than the artifacts': relative paths recorded in them would not resolve here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _specs(spec: str) -> list[DataSpec]:
    """``spec`` and the data specs nested in its options (a mix's main and redundant sets)."""
    parsed = DataSpec.parse(spec)
    nested = [s for key in ("main", "redundant") if key in parsed.options for s in _specs(parsed.options[key])]
    return [parsed, *nested]


@pytest.mark.parametrize("kind", KINDS)
def test_loads_from_another_folder(made: Path, elsewhere: Path, kind: str) -> None:
    path = made / KINDS[kind]
    card = read_card(path)
    assert card.data, f"{kind}: its card records no data, so export and bench cannot find real images"
    assert all(s.path is None or s.path.is_absolute() for s in _specs(card.data)), card.data
    data = load(card.data)  # the recorded spec is one a loader accepts, from any folder
    assert data.class_names == card.class_names
    images = card.preprocessing(data.train.images[:4])
    probabilities = open_runner(path).predict(images)
    assert probabilities.shape == (4, len(card.class_names))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("kind", KERAS_KINDS)
def test_exports_from_another_folder(made: Path, elsewhere: Path, kind: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = elsewhere / "exported.tflite"
    assert main(["export", str(made / KINDS[kind]), "--to", "tflite", "--out", str(out)]) == 0, \
        capsys.readouterr().err
    card = read_card(out)
    assert card.format == "tflite" and card.sha256
    if card.early_exit is not None:
        assert card.early_exit.form == "single"
    else:  # the parity check found the card's data from here
        assert card.metrics["parity_images"] > 0 and card.metrics["parity_top1_agreement"] == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_benches_and_compares_from_another_folder(made: Path, elsewhere: Path, kind: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    result_file = elsewhere / "result.json"
    rc = main(["bench", str(made / KINDS[kind]), *QUICK_BENCH, "--json", str(result_file)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "note:" not in err, err  # preprocessing was timed on the card's own data, not a fallback image
    result = BenchResult.load(result_file)
    assert result.image["source"].startswith("model card data")
    assert result.model["path"] == str(made / KINDS[kind]) and result.inference.median > 0
    assert main(["compare", str(result_file), str(result_file), "--out", str(elsewhere / "cmp")]) == 0, \
        capsys.readouterr().err
    assert (elsewhere / "cmp" / "comparison.csv").is_file()
