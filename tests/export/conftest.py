"""Fixtures of the export tests: the session's tiny trained model and its exports (see export/tiny.py)."""

from __future__ import annotations

import pytest
from export.tiny import Artifacts, artifacts


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return artifacts(tmp_path_factory)


@pytest.fixture
def model_without_data(tiny: Artifacts, tmp_path):
    """A copy of the tiny model whose card records no training data (so no real images can be found)."""
    from dataclasses import replace

    from convbench.artifacts import read_card, write_card

    path = tmp_path / "model.keras"
    path.write_bytes(tiny.model_path.read_bytes())
    write_card(path, replace(read_card(tiny.model_path), data=None, split=None))
    return path
