"""Shared fixtures: the real data beside the project, and a CLI runner that captures the one-line errors."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_are_removed_with_the_session() -> Iterator[None]:
    """Point the system's temporary folder (``TMPDIR``, inherited by every process a test starts) at a fresh folder
    removed when the session ends: libraries leave files there (TensorFlow's autograph modules, converters'
    SavedModels), and a test run must leave nothing behind. A short path under the old one: Ray and sshd put
    Unix sockets in it, whose paths may not exceed 107 bytes."""
    folder = tempfile.mkdtemp(prefix="cb-")
    before = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = folder, folder
    yield
    if before[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before[0]
    tempfile.tempdir = before[1]
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real datasets); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``convbench ARGS…`` in-process; returns ``(exit_status, stdout, stderr)``."""
    from convbench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err

    return run
