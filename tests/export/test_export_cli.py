"""`convbench export`: a thin command printing the result; bad input as one line on stderr, no file left."""

from __future__ import annotations

import pytest
from support import assert_one_line_error

from convbench.artifacts import read_card

pytestmark = pytest.mark.slow


def test_export_onnx_prints_path_size_hash_and_parity(tiny, cli, tmp_path):
    out = tmp_path / "tiny.onnx"
    rc, stdout, stderr = cli("export", tiny.model_path, "--to", "onnx", "--out", out)
    assert rc == 0, stderr
    card = read_card(out)
    assert str(out) in stdout and card.sha256 in stdout and f"{out.stat().st_size:,} bytes" in stdout
    assert "parity on 300 images" in stdout and "top-1 agreement 100.00%" in stdout


def test_alias_note_is_printed(cli, tmp_path, monkeypatch):
    import convbench.export
    from convbench.artifacts import ModelCard
    from convbench.data import Preprocessing
    from convbench.export import ExportResult
    from convbench.vocabulary import ALIAS_NOTE

    card = ModelCard("m", 1.0, (8, 8, 1), ("a", "b"), Preprocessing((8, 8), 1), format="tflite", quantize="dynamic",
                     sha256="ab" * 32, extra={"size_bytes": 1234, "conversion_seconds": 1.5})
    monkeypatch.setattr(convbench.export, "export", lambda *a, **k: ExportResult(tmp_path / "m.tflite", card,
                                                                                  (ALIAS_NOTE,)))
    (tmp_path / "m.keras").write_bytes(b"")  # the CLI checks the model file is there before it exports
    rc, stdout, stderr = cli("export", tmp_path / "m.keras", "--quantize", "OPTIMIZE_FOR_SIZE")
    assert rc == 0 and stderr.startswith("note: TensorFlow documents") and "1,234 bytes" in stdout


@pytest.mark.parametrize("args, needle", [
    (["--to", "coreml"], "coreml"),
    (["--quantize", "int4"], "int4"),
    (["--to", "onnx", "--quantize", "float16"], "float16"),
])
def test_bad_options_one_line(tiny, cli, args, needle):
    before = sorted(tiny.model_path.parent.iterdir())
    rc, _, err = cli("export", tiny.model_path, *args)
    assert_one_line_error(rc, err, needle)
    assert sorted(tiny.model_path.parent.iterdir()) == before


def test_not_a_model_file_one_line(cli, tmp_path):
    text = tmp_path / "README.txt"
    text.write_text("hello")
    rc, _, err = cli("export", text)
    assert_one_line_error(rc, err, "README.txt", ".keras")
    assert list(tmp_path.iterdir()) == [text]


def test_int8_without_calibration_one_line(model_without_data, cli):
    rc, _, err = cli("export", model_without_data, "--quantize", "int8")
    assert_one_line_error(rc, err, "--calibration")
    assert sorted(p.name for p in model_without_data.parent.iterdir()) == ["model.keras", "model.keras.json"]
