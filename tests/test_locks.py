"""One process at a time per output folder: a second one is refused with a line naming the holder; a dead holder's
record is taken over with a notice; the lock leaves the folder as the run left it. Holders are real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from convbench.errors import ConfigError, FolderInUse
from convbench.locks import HOLDER_FILE, LOCK_FILE, LockHolder, StaleLockNotice, locks_output, output_lock

HOLD = """
import sys, time
from convbench.locks import output_lock
with output_lock(sys.argv[1], command="holder under test"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """Another process holding ``tmp_path/out`` (killed at the end if still running)."""
    folder = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process, folder
    if process.poll() is None:
        process.kill()
    process.wait()


def test_a_second_process_is_refused_naming_the_holder(holder):
    process, folder = holder
    with pytest.raises(FolderInUse) as refused, output_lock(folder):
        pytest.fail("entered a folder another process holds")
    message = str(refused.value)
    assert f"PID {process.pid} on {socket.gethostname()} (holder under test), since " in message
    assert str(folder) in message and "\n" not in message


def test_the_cli_refuses_a_held_folder_with_one_line(holder, tmp_path):
    """A real `convbench train` into a folder another process holds: exit 2, one line naming the holder, no work."""
    process, folder = holder
    before = sorted(p.name for p in folder.iterdir())
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "convbench", "train", "--arch", "alexnet_separable", "--width",
                             "0.25", "--input-size", "32", "--epochs", "1", "--out", str(folder)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("convbench:")]
    assert len(ours) == 1 and f"PID {process.pid}" in ours[0] and "holder under test" in ours[0], result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


def test_the_python_api_is_locked_too(holder):
    from convbench.report.compare import compare
    from convbench.train import train

    _, folder = holder
    with pytest.raises(FolderInUse, match="holder under test"):
        train("alexnet_separable", out=folder, width=0.25, input_size=32, epochs=1)
    with pytest.raises(FolderInUse, match="holder under test"):  # refused before any result file is read
        compare([folder / "no-such-result.json"], out=folder)


def test_a_killed_holder_is_taken_over_with_a_notice(holder):
    process, folder = holder
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert LockHolder.read(folder).pid == process.pid  # what kill -9 leaves behind
    with pytest.warns(StaleLockNotice, match=rf"PID {process.pid} .*no longer running"), output_lock(folder):
        assert LockHolder.read(folder).pid == os.getpid()
    assert not (folder / HOLDER_FILE).exists() and not (folder / LOCK_FILE).exists()


def test_reentrant_in_one_process_and_leaves_the_folder_as_it_was(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with output_lock(existing):
        with output_lock(existing):  # e.g. a study that trains into its own folder
            assert LockHolder.read(existing).pid == os.getpid()
        assert (existing / HOLDER_FILE).exists()  # the outer hold still holds it
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]

    created = tmp_path / "a" / "b"
    with pytest.raises(ValueError, match="checked late"), output_lock(created):
        raise ValueError("checked late")  # a run that failed before writing anything
    assert not (tmp_path / "a").exists()


def test_a_file_is_no_output_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file"), output_lock(tmp_path / "f"):
        pass
    assert (tmp_path / "f").read_text() == "x"


def test_decorator_locks_the_folder_the_call_names(tmp_path):
    @locks_output("out", "directory", existing=("directory",))
    def holder_of(directory: Path, out: Path | None = None) -> LockHolder | None:
        return LockHolder.read(Path(out or directory))

    assert holder_of(tmp_path).pid == os.getpid()
    assert holder_of(tmp_path, out=tmp_path / "new").pid == os.getpid()
    assert not (tmp_path / "new").exists()  # created for the call, empty after it
    missing = tmp_path / "missing"  # an input folder that is not there: not created; the function says what it wanted
    assert holder_of(missing) is None and not missing.exists()
