"""Fixtures for study tests: a private results history, a small experiment file, fast stand-ins (see fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment.fakes import SMALL_TOML, FakeSteps, blank_png


@pytest.fixture(autouse=True)
def private_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its history into its own temporary database, never into ~/.convbench."""
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("CONVBENCH_HISTORY", str(path))
    return path


@pytest.fixture
def small_toml(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL_TOML, encoding="utf-8")
    return path


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch) -> FakeSteps:
    return FakeSteps().install(monkeypatch)


@pytest.fixture
def fast_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plots replaced by a 1x1 PNG: for tests of caching, where drawing real plots would only cost time."""
    from convbench.report import plots, study_plots

    for module, name in ((study_plots, "latency_ci"), (study_plots, "phases_stacked"),
                         (plots, "accuracy_vs_latency"), (plots, "size_vs_latency")):
        monkeypatch.setattr(module, name, blank_png)
