"""Core plumbing: atomic writes, data specs, preprocessing, the CLI's error contract."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from support import assert_one_line_error

from convbench.data import DataSpec, Preprocessing, load
from convbench.errors import ConfigError, DataError
from convbench.io import atomic_path, read_json, write_json


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_directory_replaces_whole(tmp_path):
    target = tmp_path / "model"
    for n in (1, 2):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "f").write_text(str(n))
    assert (target / "f").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_write_json_numpy(tmp_path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(3)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1, 2]}


@pytest.mark.parametrize(("spec", "name", "path", "options"), [
    (None, "digits", None, {}),
    ("digits", "digits", None, {}),
    ("fruits360:/d/f.zip", "fruits360", "/d/f.zip", {}),
    ("fruits360:/d/f.zip?labels=variety&x=1", "fruits360", "/d/f.zip", {"labels": "variety", "x": "1"}),
])
def test_data_spec_parse(spec, name, path, options):
    parsed = DataSpec.parse(spec)
    assert parsed.name == name
    assert (str(parsed.path) if parsed.path else None) == path
    assert parsed.options == options


def test_embedded_default_is_real_digits():
    ds = load()
    assert ds.name == "digits" and ds.num_classes == 10
    assert ds.train.images.shape == (1797, 8, 8, 1) and ds.train.images.dtype == np.uint8
    assert sorted(np.unique(ds.train.labels)) == list(range(10))
    assert ds.train.images.max() == 255 and ds.train.images.min() == 0


def test_load_errors():
    with pytest.raises(DataError, match="unknown dataset 'nope'"):
        load("nope:/x")
    with pytest.raises(DataError, match="not found"):
        load("mnist:/does/not/exist")


def test_preprocessing_shapes_and_roundtrip():
    p = Preprocessing((16, 12), channels=3, invert=True)
    x = np.zeros((2, 8, 8, 1), np.uint8)
    y = p(x)
    assert y.shape == (2, 16, 12, 3) and y.dtype == np.float32
    assert np.allclose(y, 1.0)  # inverted black is white
    assert Preprocessing.from_dict(p.to_dict()) == p
    with pytest.raises(ConfigError, match="channels"):
        Preprocessing((8, 8), channels=2)


def test_preprocessing_load_image_matches_array_path(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    p = Preprocessing((10, 15), channels=3)
    assert np.array_equal(p.load_image(tmp_path / "x.png"), p(pixels[None]))
    with pytest.raises(DataError, match="cannot decode"):
        (tmp_path / "bad.png").write_bytes(b"not an image")
        p.load_image(tmp_path / "bad.png")


def test_cli_unknown_command_is_one_line_error(cli):
    rc, _, err = cli("no-such-command")
    assert rc != 0 and "Traceback" not in err


def test_cli_convbench_error_is_one_line(cli, monkeypatch):
    import typer

    from convbench.cli.app import app

    @app.command("raise-for-test", hidden=True)
    def _raise() -> None:
        raise DataError("bad.zip: not a Fruits-360 archive")

    try:
        rc, _, err = cli("raise-for-test")
    finally:
        app.registered_commands.pop()
    assert_one_line_error(rc, err, "bad.zip")
    assert typer  # the command was registered through typer's public API


def test_cli_help_imports_no_heavy_library():
    """``convbench --help`` builds every command's help, defaults included, without NumPy, Keras or TensorFlow."""
    heavy = ("numpy", "keras", "tensorflow", "scipy", "matplotlib")
    code = f"import sys, convbench.cli; print([m for m in {heavy!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_an_error_naming_a_culprit_with_control_characters_stays_one_line():
    """A damaged zip member's name may hold a newline (Hypothesis found one): the error escapes it, and reads the same
    after a round trip through pickle (how a worker process hands it back)."""
    import pickle

    error = DataError("cannot read a\nb\t.png (in x.zip)")
    assert str(error) == "cannot read a\\nb\\t.png (in x.zip)"
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert str(ConfigError("naïve\x00")) == "naïve\\x00"
