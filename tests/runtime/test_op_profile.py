"""Per-operator profiles from the runtimes' own profilers, on the session's tiny exported model (real runs)."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.bench.profile import OpProfile, OpProfileUnavailable, profile_ops
from convbench.errors import ConfigError
from convbench.report.op_profile import model_explorer_node_data, write_model_explorer
from convbench.runtime import list_runtimes, open_runner
from convbench.runtime.base import NodeTime

pytestmark = pytest.mark.slow

CONV_TYPES = {"Conv", "FusedConv", "Convolution", "GroupConvolution"}  # ONNX Runtime's and OpenVINO's names


@pytest.mark.parametrize(("runtime", "target"), [("onnxruntime", "onnx"), ("openvino", "onnx"),
                                                  ("openvino", "tflite")])
def test_a_real_profile_names_nodes_and_shares_the_time(tiny, runtime, target):
    path = tiny.export(target, "none").path
    profile = profile_ops(path, runtime=runtime, runs=5)
    assert isinstance(profile, OpProfile) and profile.runtime == runtime and profile.runs == 5
    assert profile.nodes and all(n.node and n.op_type and n.seconds >= 0 for n in profile.nodes)
    assert sum(n.share for n in profile.nodes) == pytest.approx(1.0)
    assert [n.seconds for n in profile.nodes] == sorted((n.seconds for n in profile.nodes), reverse=True)
    assert {n.calls for n in profile.nodes} == {5}  # the warm-up call is not counted
    assert CONV_TYPES & {n.op_type for n in profile.nodes}  # the model is mostly convolutions
    by_type = profile.by_op_type()
    assert sum(t.share for t in by_type) == pytest.approx(1.0)
    assert sum(t.seconds for t in by_type) == pytest.approx(profile.total_seconds)
    assert len(by_type) <= len(profile.nodes)


def test_the_timed_session_is_not_the_profiled_one(tiny):
    runner = open_runner(tiny.export("onnx", "none").path)
    runner.load()
    timed = runner._session
    records = runner.profile_nodes(np.zeros(runner.input_shape, np.float32), 2)
    assert records and all(isinstance(r, NodeTime) for r in records)
    assert runner._session is timed and not timed.get_session_options().enable_profiling


def test_the_profile_round_trips_and_becomes_model_explorer_node_data(tiny, tmp_path):
    import onnx

    path = tiny.export("onnx", "none").path
    profile = profile_ops(path, runs=3)
    assert OpProfile.load(profile.save(tmp_path / "p.json")) == profile
    data = model_explorer_node_data(profile)
    assert set(data) == {"results", "gradient"}
    assert [g["stop"] for g in data["gradient"]][0::len(data["gradient"]) - 1] == [0, 1]
    assert sum(r["value"] for r in data["results"].values()) == pytest.approx(100, abs=0.1)  # percent
    graph = onnx.load(path).graph
    keys = set(data["results"])
    assert keys & {n.name for n in graph.node}  # nodes ONNX Runtime kept keep their ONNX names: they match
    convs = [n for n in profile.nodes if n.node.endswith("_nchwc")]  # rewritten by its layout pass
    tensors = {name for n in graph.node for name in n.output}
    assert all(n.node.removesuffix("_nchwc") in keys & tensors for n in convs)  # keyed by an output tensor name
    assert write_model_explorer(profile, tmp_path / "me.json").is_file()


@pytest.mark.parametrize("runtime", ["litert", "litert_compiled", "keras"])
def test_runtimes_without_a_profiler_say_why_in_one_line(tiny, runtime):
    path = tiny.model_path if runtime == "keras" else tiny.export("tflite", "none").path
    with pytest.raises(OpProfileUnavailable, match=rf"^per-op profile: not available in {runtime} \(.+\)$") as e:
        profile_ops(path, runtime=runtime)
    assert "\n" not in str(e.value) and e.value.reason == open_runner(path, runtime).no_profiler


def test_every_runtime_either_profiles_or_says_why():
    from convbench.runtime.base import _RUNNERS

    for name in list_runtimes():
        cls = _RUNNERS[name]
        overrides = "profile_nodes" in vars(cls)
        assert overrides == (cls.no_profiler is None), name


def test_bad_runs_are_a_config_error(tiny):
    with pytest.raises(ConfigError, match="runs must be an integer >= 1"):
        profile_ops(tiny.export("onnx", "none").path, runs=0)


CHEAP = ("--runs", "5", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0", "--load-repeats", "1")


def test_bench_cli_prints_the_top_ops_and_writes_model_explorer_node_data(cli, tiny, tmp_path):
    import json

    rc, out, err = cli("bench", tiny.export("onnx", "none").path, "--runtime", "openvino", "--profile-ops", *CHEAP,
                       "--json", tmp_path / "r.json")
    assert rc == 0, err
    assert out.index("inference") < out.index("Where the time goes")  # after the timing
    assert "ms per run" in out and "by op type: " in out
    node_data = tmp_path / "r.model_explorer.json"
    assert f"wrote {node_data}" in out.replace("\n", "")
    assert set(json.loads(node_data.read_text())) == {"results", "gradient"}


def test_bench_cli_without_a_profiler_prints_one_line_and_still_times(cli, tiny, tmp_path):
    rc, out, err = cli("bench", tiny.export("tflite", "none").path, "--profile-ops", *CHEAP,
                       "--json", tmp_path / "r.json")
    assert rc == 0, err
    assert "inference" in out and "Traceback" not in out + err
    (line,) = [x for x in out.splitlines() if x.startswith("per-op profile:")]
    assert line.startswith("per-op profile: not available in litert (") and line.endswith(")")
    assert not (tmp_path / "r.model_explorer.json").exists()
