"""bench() with a stand-in runner: phases, recorded facts, JSON schema, bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from bench.standin import FAST, make_model_file
from PIL import Image

from convbench.bench import PHASES, BenchCase, BenchResult, bench, bench_interleaved
from convbench.errors import ConfigError, DataError, ModelError
from convbench.io import sha256_file


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
    return path


def test_phases_present_and_positive(standin, model_file, image_file):
    result = bench(model_file, image=image_file, **FAST)
    assert tuple(result.phases) == PHASES
    for m in result.phases.values():
        assert m.n >= 2 and m.min > 0 and m.median > 0
    assert result.phases["load"].n == result.phases["first_inference"].n == 2  # one cold call per fresh load
    assert [r.calls["load"] for r in standin] == [1, 1]  # two fresh runners, each loaded once
    assert result.inference.n == 5 and result.image["source"] == f"file {image_file}"


def test_records_model_runtime_and_environment(standin, model_file, image_file):
    result = bench(model_file, image=image_file, threads=2, **FAST)
    assert result.model["sha256"] == sha256_file(model_file) and result.model["size_bytes"] == 256
    assert result.model["params"] == 10 and result.model["macs"] == 1000 and result.model["accuracy"] == 0.9
    assert result.model["input_shape"] == [8, 8, 1] and result.model["quantize"] == "none"
    assert result.runtime == {"name": "standin", "version": "0.0", "threads": 2, "delegate": "none"}
    assert result.protocol["batch_size"] == 1 and result.protocol["runs"] == 5
    assert {"cpu", "cores", "os", "python", "libraries", "timestamp"} <= set(result.environment)
    assert result.attained_gflops == pytest.approx(2 * 1000 / result.inference.median / 1e9)
    assert result.label == "tiny none standin t2"


def test_json_schema_and_round_trip(standin, model_file, image_file, tmp_path):
    out = bench(model_file, image=image_file, **FAST).save(tmp_path / "r.json")
    d = json.loads(out.read_text())
    assert d["schema"] == "convbench.bench_result/1"
    assert {"model", "runtime", "protocol", "image", "phases", "environment", "attained_gflops"} <= set(d)
    assert {"path", "size_bytes", "sha256", "params", "macs", "accuracy", "input_shape", "quantize"} <= set(d["model"])
    for phase in PHASES:
        p = d["phases"][phase]
        assert p["unit"] == "s" and len(p["times_s"]) == p["stats"]["n"]
        assert {"median", "p90", "p99", "iqr", "ci95", "unstable", "mean", "std", "min"} <= set(p["stats"])
    back = BenchResult.load(out)
    assert back.inference.median == pytest.approx(d["phases"]["inference"]["stats"]["median"])


def test_image_from_data_spec_and_last_resort(standin, model_file):
    assert "--data digits" in bench(model_file, data="digits", **FAST).image["source"]
    assert "embedded digits" in bench(model_file, **FAST).image["source"]


@pytest.mark.parametrize(("options", "error", "culprit"), [
    ({"runs": 0}, ConfigError, "runs"),
    ({"threads": 0}, ConfigError, "threads"),
    ({"min_seconds": -1.0}, ConfigError, "min_seconds"),
    ({"load_repeats": 0}, ConfigError, "load_repeats"),
    # upper bounds (README: timing loops at most an hour), through checks.integer_in as every count
    ({"load_repeats": 100_000_000}, ConfigError, r"load_repeats must be an integer >= 1 and <= 1000"),
    ({"threads": 5000}, ConfigError, r"threads must be an integer >= 1 and <= 1024, got threads=5000"),
    ({"runtime": "tensorrt"}, ConfigError, "tensorrt"),
    ({"image": "missing.png"}, DataError, "missing.png"),
    ({"image": "x.png", "data": "digits"}, ConfigError, "--image"),
])
def test_bad_options_fail_before_timing(standin, model_file, options, error, culprit):
    with pytest.raises(error, match=culprit):
        bench(model_file, **{**FAST, **options})
    assert all(r.calls["load"] == 0 for r in standin)


def test_rounds_have_an_upper_bound(standin, model_file):
    with pytest.raises(ConfigError, match=r"rounds must be an integer >= 1 and <= 1000, got rounds=100000000"):
        bench_interleaved([BenchCase(model_file)], rounds=100_000_000, **FAST)
    assert all(r.calls["load"] == 0 for r in standin)


def test_undecodable_image(standin, model_file, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png"):
        bench(model_file, image=bad, **FAST)


def test_missing_model(standin, tmp_path):
    with pytest.raises(ModelError, match=r"nope\.tflite"):
        bench(tmp_path / "nope.tflite", **FAST)


def test_card_and_model_input_disagree(standin, tmp_path):
    path = make_model_file(tmp_path, size=(8, 8), input_shape=(16, 16, 1))
    with pytest.raises(ModelError, match="expects"):
        bench(path, **FAST)


def test_interleaved_rounds_shuffle_the_order_and_pool_rounds_as_replicates(standin, model_file):
    from convbench.bench import BenchCase, bench_interleaved

    targets = [BenchCase(model_file, threads=1), BenchCase(model_file, threads=2)]
    results = bench_interleaved(targets, rounds=4, runs=8, min_seconds=0.0, warmup=1, warmup_seconds=0.0,
                                load_repeats=1, data="digits", seed=3)
    assert [r.runtime["threads"] for r in results] == [1, 2]
    orders = results[0].protocol["round_orders"]
    assert len(orders) == 4 and all(sorted(o) == [0, 1] for o in orders) and len({tuple(o) for o in orders}) == 2
    inference = results[0].inference
    assert inference.n >= 8 and inference.metadata["replicates"] == 4 and len(inference.replicate_medians) == 4
    assert inference.replicate_spread is not None and "replicates_disagree" in inference.summary()
    assert len(results[0].protocol["load_average_1min"]) == 2


def test_before_round_runs_once_per_round_after_loading_and_before_that_rounds_calls(standin, model_file):
    """The hook a repeatability run blocks in until its process's turn: it must come after every
    configuration is loaded and between rounds, never inside one."""
    from convbench.bench import BenchCase, bench_interleaved

    seen: list[tuple[int, int, list[int]]] = []  # (round index, runners loaded, calls each so far)

    def before_round(index: int) -> None:
        seen.append((index, len(standin), [r.calls["invoke"] for r in standin]))

    targets = [BenchCase(model_file, threads=1), BenchCase(model_file, threads=2)]
    bench_interleaved(targets, rounds=3, runs=9, min_seconds=0.0, warmup=1, warmup_seconds=0.0, load_repeats=1,
                      data="digits", before_round=before_round)
    assert [index for index, _, _ in seen] == [0, 1, 2]
    assert all(loaded == len(standin) for _, loaded, _ in seen)  # loading (and cold phases) already done
    calls = [counts for _, _, counts in seen] + [[r.calls["invoke"] for r in standin]]
    steps = [[after - before for before, after in zip(a, b, strict=True)] for a, b in itertools.pairwise(calls)]
    assert all(sum(step) > 0 for step in steps)  # every round ran calls after its hook
    assert all(step == steps[0] for step in steps)  # and each round ran the same calls: none leaked across a hook


def test_round_ci_is_at_least_as_wide_as_the_spread_of_the_round_medians():
    from convbench.bench import Measurement, TaskSpec

    spec = TaskSpec("m", "r t1", "inference", 1)
    rounds = [Measurement(spec, [m] * 50) for m in (1.0e-3, 1.1e-3, 1.2e-3, 1.3e-3, 1.4e-3, 1.5e-3, 1.6e-3)]
    pooled = Measurement.merge(rounds)[0]
    assert pooled.ci95.low <= 1.1e-3 and pooled.ci95.high >= 1.5e-3  # the calls alone would give [1.2, 1.4] ms
    assert pooled.replicates_disagree and abs(pooled.replicate_spread - 0.6e-3 / 1.3e-3) < 1e-9
    steady = Measurement.merge([Measurement(spec, [1e-3, 1.001e-3] * 20) for _ in range(3)])[0]
    assert not steady.replicates_disagree


def test_pinning_runs_on_the_cpus_named_and_restores_affinity(standin, model_file):
    import os

    from convbench.bench import bench

    before = os.sched_getaffinity(0)
    cpu = min(before)
    result = bench(model_file, runs=3, min_seconds=0.0, warmup=0, warmup_seconds=0.0, load_repeats=1,
                   data="digits", pin=[cpu])
    assert result.protocol["pinned_cpus"] == [cpu] and os.sched_getaffinity(0) == before
    with pytest.raises(ConfigError, match="--pin: CPU 4096 does not exist"):
        bench(model_file, pin=[4096])
