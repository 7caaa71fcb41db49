"""`convbench bench` and `convbench compare` in-process: output, JSON, and one-line errors that leave no file."""

from __future__ import annotations

import json

import pytest
from bench.standin import synthetic_result
from support import assert_one_line_error

FAST_ARGS = ("--runs", "5", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0", "--load-repeats", "2")


def test_bench_prints_table_and_writes_json(cli, standin, model_file, tmp_path):
    out = tmp_path / "out" / "r.json"
    rc, stdout, err = cli("bench", model_file, *FAST_ARGS, "--threads", "2", "--data", "digits", "--json", out)
    assert rc == 0, err
    for phase in ("load", "first_inference", "preprocess", "inference"):
        assert phase in stdout
    assert "standin" in stdout and "GFLOP/s" in stdout
    d = json.loads(out.read_text())
    assert d["runtime"]["threads"] == 2 and d["phases"]["inference"]["stats"]["n"] == 5


@pytest.mark.parametrize(("args", "culprit"), [
    (("--runs", "0"), "runs"),
    (("--threads", "0"), "threads"),
    (("--min-seconds", "-1"), "min_seconds"),
    (("--warmup", "-2"), "warmup"),
    (("--runtime", "tensorrt"), "tensorrt"),
    (("--image", "nowhere.png"), "nowhere.png"),
    (("--image", "x.png", "--data", "digits"), "--image"),
    (("--data", "nope"), "nope"),
])
def test_bench_bad_options(cli, standin, model_file, tmp_path, args, culprit):
    out = tmp_path / "results" / "r.json"
    rc, _, err = cli("bench", model_file, *FAST_ARGS, *args, "--json", out)
    assert_one_line_error(rc, err, culprit)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_bench_not_a_model(cli, tmp_path):
    fake = tmp_path / "fake.tflite"
    fake.write_bytes(b"definitely not a flatbuffer")
    rc, _, err = cli("bench", fake, *FAST_ARGS, "--json", tmp_path / "r.json")
    assert_one_line_error(rc, err, "fake.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.tflite"]


def test_bench_undecodable_image(cli, standin, model_file, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    rc, _, err = cli("bench", model_file, *FAST_ARGS, "--image", bad, "--json", tmp_path / "r.json")
    assert_one_line_error(rc, err, "broken.jpg")
    assert not (tmp_path / "r.json").exists()


def test_bench_missing_model(cli, tmp_path):
    rc, _, err = cli("bench", tmp_path / "absent.tflite")
    assert_one_line_error(rc, err, "absent.tflite")


def test_compare_command(cli, tmp_path):
    paths = [synthetic_result(name, median, seed=seed, run="one").save(tmp_path / f"{name}.json")
             for name, median, seed in (("fast", 1e-3, 1), ("slow", 3e-3, 2))]
    rc, stdout, err = cli("compare", *paths, "--out", tmp_path / "cmp")
    assert rc == 0, err
    assert "fast none litert t1 is clearly ahead of slow none litert t1" in " ".join(stdout.split())
    assert (tmp_path / "cmp" / "comparison.csv").exists() and (tmp_path / "cmp" / "accuracy_vs_latency.png").exists()


def test_compare_bad_input(cli, tmp_path):
    (tmp_path / "notes.json").write_text("not json at all")
    rc, _, err = cli("compare", tmp_path / "notes.json", "--out", tmp_path / "cmp")
    assert_one_line_error(rc, err, "notes.json")
    rc, _, err = cli("compare", tmp_path / "missing.json")
    assert_one_line_error(rc, err, "missing.json")
    assert not (tmp_path / "cmp").exists()


def test_bench_unknown_runtime_real_registry(cli, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    rc, _, err = cli("bench", model, "--runtime", "tensorrt")
    assert_one_line_error(rc, err, "tensorrt", "litert")  # names the culprit and the choices


def test_bench_several_models_side_by_side_with_pinning(cli, standin, model_file, tmp_path):
    out = tmp_path / "results"
    rc, stdout, err = cli("bench", model_file, model_file, *FAST_ARGS, "--rounds", "2", "--pin", "0", "--data",
                          "digits", "--json", out)
    assert rc == 0, err
    said = " ".join(stdout.split())  # two rounds pair up, but a verdict needs more (and a quiet machine)
    assert "a verdict needs at least 6 rounds" in said or "no verdict, the machine was busy while timing" in said
    assert "clearly ahead" not in said
    files = sorted(out.glob("*.json"))
    assert len(files) == 2 and all(json.loads(f.read_text())["protocol"]["rounds"] == 2 for f in files)
    assert json.loads(files[0].read_text())["protocol"]["pinned_cpus"] == [0]


@pytest.mark.parametrize(("args", "culprit"), [
    (("--pin", "x"), "--pin 'x'"),
    (("--pin", "4096"), "CPU 4096"),
    (("--rounds", "0"), "rounds"),
    (("--rounds", "100000000"), "rounds=100000000"),
    (("--load-repeats", "100000000"), "load_repeats=100000000"),
    (("--threads", "5000"), "threads=5000"),
])
def test_bench_bad_protocol_options(cli, standin, model_file, args, culprit):
    rc, _, err = cli("bench", model_file, *FAST_ARGS, *args)
    assert_one_line_error(rc, err, culprit)


def test_the_help_states_the_bounds_of_rounds_load_repeats_and_threads(cli):
    rc, text, _ = cli("bench", "--help")
    flat = " ".join(text.split())
    assert rc == 0
    for option, bound in (("--rounds", 1000), ("--load-repeats", 1000), ("--threads", 1024)):
        assert f"at most {bound}" in flat.split(option, 1)[1].split(" --", 1)[0], option
