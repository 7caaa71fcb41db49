"""The tiny search through a real Ray cluster that the test starts on loopback (``ray start --head --block`` with
one timing slot) and stops: trials trained as Ray tasks, timed on the node holding the timing slot."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from search.searchkit import free_port, write_space

from convbench.search import search

pytestmark = pytest.mark.slow
START_WITHIN_S = 120


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """``HOST:PORT`` of a one-node Ray cluster on loopback with 2 CPUs and ``timing_slot: 1``."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip(f"the ray command is not installed beside {sys.executable}")
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--num-cpus", "2", "--resources", '{"timing_slot": 1}', "--temp-dir", temp, "--include-dashboard", "false",
         "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # its own process group
    try:
        deadline = time.monotonic() + START_WITHIN_S
        while not _listening(port):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"Ray could not start a head node here: {head.stderr.read().decode()[-300:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(head)
        shutil.rmtree(temp, ignore_errors=True)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _stop(head: subprocess.Popen[bytes]) -> None:
    """Stop the head and every process it started (its process group), nothing else."""
    # Ray drains for up to 30 s on SIGTERM; the group holds only this cluster's processes, so SIGKILL after a few
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            return
        try:
            head.wait(timeout=wait)
            time.sleep(1)  # let the raylet's workers go with it
        except subprocess.TimeoutExpired:
            continue


def test_a_tiny_search_runs_through_a_real_ray_cluster(tmp_path: Path, ray_cluster: str):
    result = search("digits", floor=0.05, out=tmp_path / "search", budget="10m", max_trials=2, epochs=1,
                    batch_size=16, space=write_space(tmp_path), ray=ray_cluster, progress=False)
    assert len(result.trials) == 2
    complete = [t for t in result.trials if t.state == "complete"]
    assert complete, [t.error for t in result.trials]
    for t in complete:
        # trained and timed inside Ray workers: the node names carry the Ray node id (host/node)
        assert "/" in t.trained_on and "/" in t.timed_on
        assert t.latency is not None and (tmp_path / "search" / t.model_file).is_file()
    assert result.settings.ray == ray_cluster
    assert result.recommendation is not None and result.test_scores


def test_under_ray_the_latency_screen_runs_on_the_timing_node_before_any_training(tmp_path: Path, ray_cluster: str):
    # a cap no file meets: the first trial's screen (a Ray task holding the timing slot) prunes it untrained
    result = search("digits", floor=0.05, out=tmp_path / "search", budget="10m", max_trials=1, epochs=1,
                    space=write_space(tmp_path), ray=ray_cluster, max_latency=1e-6, progress=False)
    (only,) = result.trials
    assert only.pruned_before_training and only.prune_reason.startswith("over the latency cap")
    assert only.screen_latency is not None and "/" in only.timed_on and only.trained_on is None
