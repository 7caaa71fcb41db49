"""Fixtures of the runtime tests: the session's tiny trained model and its exports (see export/tiny.py)."""

from __future__ import annotations

import pytest
from export.tiny import Artifacts, artifacts


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return artifacts(tmp_path_factory)
