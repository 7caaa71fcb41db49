"""Fixtures for the harness tests (helpers live in standin.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.standin import StandInRunner, make_model_file

from convbench.bench import harness


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> list[StandInRunner]:
    """Route the harness's ``open_runner`` to :class:`StandInRunner`; yields the runners opened."""
    opened: list[StandInRunner] = []

    def open_runner(path, runtime=None, threads=1):
        opened.append(StandInRunner(path, runtime, threads))
        return opened[-1]

    monkeypatch.setattr(harness, "open_runner", open_runner)
    return opened


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return make_model_file(tmp_path)
