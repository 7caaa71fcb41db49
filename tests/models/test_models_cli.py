"""`convbench models`: the table, the JSON and a one-line error."""

from __future__ import annotations

import json

from support import assert_one_line_error

from convbench.models import list_models


def test_table_lists_every_architecture(cli):
    rc, out, _ = cli("models", "--input-size", "32", "--width", "0.25")
    assert rc == 0
    for arch in list_models():
        assert arch in out
    assert "449,130" in out  # alexnet α=0.25 at 32x32, 2 classes


def test_json_rows_and_too_small_input(cli):
    rc, out, _ = cli("models", "--input-size", "16", "--channels", "1", "--classes", "3", "--width", "0.25", "--json")
    assert rc == 0
    rows = {row["arch"]: row for row in json.loads(out)}
    assert set(rows) == set(list_models())
    assert rows["alexnet"]["params"] > 0 and rows["alexnet"]["input_shape"] == [16, 16, 1]
    assert "at least 32x32" in rows["vgg19"]["error"]


def test_impossible_width_is_one_line(cli):
    rc, _, err = cli("models", "--width", "0")
    assert_one_line_error(rc, err, "width")
