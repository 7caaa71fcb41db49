"""Quiet by default: what native code writes to descriptor 2 in a native_output window goes nowhere unless verbose;
Python's own stderr still reaches the terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from convbench.verbosity import VERBOSE_ENV, native_output

SCRIPT = """
import os, sys
from convbench.verbosity import native_output
print("before", file=sys.stderr, flush=True)
with native_output():
    os.write(2, b"native inside\\n")  # as LiteRT's C++ logger writes
    with native_output():  # nested: nothing more to do
        os.write(2, b"native nested\\n")
    print("python inside", file=sys.stderr, flush=True)  # a convbench warning, a progress bar
os.write(2, b"native after\\n")
"""


def _run(verbose: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV}
    if verbose is not None:
        env[VERBOSE_ENV] = verbose
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_native_lines_in_a_window_go_nowhere_and_python_lines_still_show():
    assert _run(None).splitlines() == ["before", "python inside", "native after"]
    assert _run("0").splitlines() == ["before", "python inside", "native after"]


def test_verbose_lets_native_lines_through():
    assert _run("1").splitlines() == ["before", "native inside", "native nested", "python inside", "native after"]


def test_a_window_under_a_capture_keeps_the_capture(capfd: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with native_output():
        os.write(2, b"native\n")
        print("python", file=sys.stderr)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "python\nafter\n"
