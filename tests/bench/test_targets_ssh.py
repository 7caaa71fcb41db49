"""The ssh:// target against a real OpenSSH server on a loopback port (keys generated per module), timing a tiny
.tflite through ``ssh://root@127.0.0.1:PORT``, and every fault the issue lists as a one-line error naming the target.

No timing assertions: the loopback benchmark (benchmarks/device_loopback.py) compares local and remote medians.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from support import assert_one_line_error

from convbench.artifacts import ModelCard, write_card
from convbench.bench import PHASES, BenchResult
from convbench.bench.targets import bench_on, target_of
from convbench.bench.targets.loopback import loopback_sshd, sshd_available
from convbench.data import Preprocessing
from convbench.errors import TargetError
from convbench.vocabulary import REMOTE_PYTHON_ENV, SSH_OPTIONS_ENV

pytestmark = pytest.mark.slow
CHEAP = {"runs": 5, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0, "load_repeats": 2, "data": "digits"}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real sshd on a free 127.0.0.1 port accepting a freshly generated key (skips without openssh-server)."""
    reason = sshd_available()
    if reason:
        pytest.skip(reason)
    with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def remote(sshd, monkeypatch):
    """The ssh client set up for the loopback server, and this interpreter (with numpy and LiteRT) as the host's."""
    monkeypatch.setenv(SSH_OPTIONS_ENV, sshd.client_options())
    monkeypatch.setenv(REMOTE_PYTHON_ENV, sys.executable)
    return sshd


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``tiny.tflite`` (8x8 grey → 2 classes) and ``broken.tflite`` (a .tflite header and nothing else), with cards."""
    import keras
    import tensorflow as tf

    out = tmp_path_factory.mktemp("models")
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    card = ModelCard(arch="tiny", width=1.0, input_shape=(8, 8, 1), class_names=("a", "b"), format="tflite",
                     preprocessing=Preprocessing((8, 8), channels=1), params=model.count_params(), macs=1304,
                     metrics={"test_accuracy": 0.5})
    (out / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    write_card(out / "tiny.tflite", card)
    (out / "broken.tflite").write_bytes(b"\x00\x00\x00\x00TFL3" + bytes(64))
    write_card(out / "broken.tflite", card)
    return out


def test_times_a_tflite_over_ssh_with_the_local_protocol(remote, tiny, tmp_path):
    (result,) = bench_on(remote.target, [tiny / "tiny.tflite"], **CHEAP)
    assert tuple(result.phases) == PHASES
    assert result.inference.n >= CHEAP["runs"] and all(m.min > 0 for m in result.phases.values())
    assert result.phases["load"].n == CHEAP["load_repeats"]  # fresh loads on the host, each with a cold first call
    assert result.inference.metadata["clock"] == "time.perf_counter_ns"  # the shipped timing loop ran there
    env = result.environment
    assert target_of(result) == remote.target and env["cores"] and env["cpu"] and env["os"]
    assert env["runtime"] == "litert" and env["runtime_version"] == result.runtime["version"]
    overhead = result.protocol["remote_overhead_s"]
    assert overhead["copy"] > 0 and overhead["bytes_copied"] > (tiny / "tiny.tflite").stat().st_size
    # the one result format: saved and read back with the same raw samples and the target
    again = BenchResult.load(result.save(tmp_path / "r.json"))
    assert again.inference.times_s == result.inference.times_s and target_of(again) == remote.target


def test_several_files_in_interleaved_rounds(remote, tiny):
    results = bench_on(remote.target, [tiny / "tiny.tflite", tiny / "tiny.tflite"], threads=1, rounds=2, **CHEAP)
    assert len(results) == 2
    assert all(r.inference.metadata["replicates"] == 2 for r in results)
    assert sorted(results[0].protocol["round_orders"][0]) == [0, 1]


def test_refused_authentication_is_one_line(remote, tiny, monkeypatch, tmp_path):
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    monkeypatch.setenv(SSH_OPTIONS_ENV, remote.client_options(tmp_path / "stranger"))
    with pytest.raises(TargetError, match=rf"{remote.target}: authentication refused"):
        bench_on(remote.target, [tiny / "tiny.tflite"], **CHEAP)


def test_unreachable_port_is_one_line(remote, tiny):
    from convbench.bench.targets.loopback import _free_port

    target = f"ssh://root@127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(TargetError, match=rf"{target}: unreachable \(.*Connection refused"):
        bench_on(target, [tiny / "tiny.tflite"], **CHEAP)


def test_host_without_python_numpy_or_runtime(remote, tiny, monkeypatch, tmp_path):
    monkeypatch.setenv(REMOTE_PYTHON_ENV, "/nonexistent/python3")
    with pytest.raises(TargetError, match=r"no Python interpreter '/nonexistent/python3' on the host; install"):
        bench_on(remote.target, [tiny / "tiny.tflite"], **CHEAP)
    # a host whose Python has numpy but no LiteRT: a package folder that shadows ai_edge_litert and lacks the module
    (tmp_path / "ai_edge_litert").mkdir()
    (tmp_path / "ai_edge_litert" / "__init__.py").write_text("")
    monkeypatch.setenv(REMOTE_PYTHON_ENV, f"env PYTHONPATH={tmp_path} {sys.executable}")
    with pytest.raises(TargetError, match=r"ai-edge-litert is not installed .* install it: python3 -m pip install "
                                          r"ai-edge-litert"):
        bench_on(remote.target, [tiny / "tiny.tflite"], **CHEAP)


def test_model_the_hosts_runtime_cannot_open(remote, tiny):
    with pytest.raises(TargetError, match=rf"{remote.target}: broken.tflite: litert on this host cannot load it"):
        bench_on(remote.target, [tiny / "broken.tflite"], **CHEAP)


def test_connection_dropped_mid_run(tiny, monkeypatch, tmp_path):
    """sshd and its sessions are killed while the agent times: one line naming the target, no half result."""
    if sshd_available():
        pytest.skip(sshd_available())
    with loopback_sshd(tmp_path / "sshd") as server:  # its own server: this test kills it
        monkeypatch.setenv(SSH_OPTIONS_ENV, server.client_options())
        monkeypatch.setenv(REMOTE_PYTHON_ENV, sys.executable)
        _drop_mid_run(server, tiny)


def _drop_mid_run(remote, tiny) -> None:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["results"] = bench_on(remote.target, [tiny / "tiny.tflite"], **{**CHEAP, "min_seconds": 30.0})
        except TargetError as e:
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("agent.pyz" in _cmdline(p) for p in remote.sessions()):
        time.sleep(0.1)
    time.sleep(0.5)  # inside the steady-state loop
    remote.kill()
    worker.join(timeout=60)
    assert "results" not in outcome
    assert f"target {remote.target}: connection lost during the run" in str(outcome["error"])


def test_cli_bench_on_ssh_and_its_errors(remote, tiny, cli, tmp_path):
    rc, out, err = cli("bench", tiny / "tiny.tflite", "--on", remote.target, "--runs", "5", "--min-seconds", "0",
                       "--warmup-seconds", "0", "--load-repeats", "1", "--data", "digits",
                       "--json", tmp_path / "r.json")
    assert rc == 0, err
    assert remote.target in out and target_of(BenchResult.load(tmp_path / "r.json")) == remote.target
    rc, _, err = cli("bench", tiny / "tiny.tflite", "--on", "ftp://nowhere")
    assert_one_line_error(rc, err, "ftp://nowhere", "ssh://")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
