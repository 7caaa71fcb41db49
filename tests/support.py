"""Assertions shared by tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations


def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    """A user error: non-zero exit, one line on stderr naming each of ``needles``, no traceback."""
    assert rc != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
