"""Property (Hypothesis): whatever value a user gives an option of ``convbench train``, the command either passes
its checks or stops with one line naming the option or the value, a non-zero exit and no traceback, before any
work, and touches nothing outside ``--out``.

Runs in-process: the data loader, the first step of real work, is replaced by a sentinel that ends the command
there, so a value that passes the checks costs nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convbench.train.trainer as trainer

OPTIONS = ("--arch", "--data", "--width", "--input-size", "--channels", "--epochs", "--batch-size", "--patience",
           "--seed", "--val-split")
_hostile = st.sampled_from(["", " ", "-1", "0", "1e400", "nan", "inf", "10" * 12, "\n", "a\tb", "é", "digits:x",
                            "../..", "/dev/null", "mobilenet_v2", "0.5", "3", "groups"])
_values = _hostile | st.text(max_size=12) | st.integers(-10**6, 10**6).map(str)


class _PastTheChecks(BaseException):
    """Raised where the real work would begin: the values given passed every check."""


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(OPTIONS), value=_values)
def test_any_train_option_value_passes_the_checks_or_is_one_line_naming_it(cli, monkeypatch, option, value):
    def past_the_checks(*args: object, **kwargs: object) -> None:
        raise _PastTheChecks

    monkeypatch.setattr(trainer, "load", past_the_checks)
    given_options = {"--arch": "mobilenet_v2", "--epochs": "1", option: value}
    with tempfile.TemporaryDirectory() as name:
        workspace = Path(name)
        (workspace / "mine.txt").write_text("the user's")
        before = _tree(workspace)
        cwd = os.getcwd()
        os.chdir(workspace)
        try:
            rc, out, err = cli("train", "--out", "out", *[a for pair in given_options.items() for a in pair])
        except _PastTheChecks:
            return
        finally:
            os.chdir(cwd)
        after = _tree(workspace)
    assert rc != 0
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert option in lines[0] or option.lstrip("-").replace("-", "_") in lines[0] or \
        option.lstrip("-") in lines[0] or (value.strip() and value.strip() in lines[0]), lines[0]
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before


def test_the_sentinel_stands_where_the_work_begins(cli, monkeypatch, tmp_path):
    """The property is only as good as its sentinel: valid options do reach it."""
    monkeypatch.setattr(trainer, "load", lambda *a, **k: (_ for _ in ()).throw(_PastTheChecks()))
    with pytest.raises(_PastTheChecks):
        cli("train", "--arch", "mobilenet_v2", "--out", tmp_path / "out", "--epochs", "1")


RUN_KEYS = ("train.epochs", "train.batch_size", "train.seed", "train.val_fraction", "export.quantize",
            "bench.runs", "bench.rounds", "bench.threads", "bench.min_seconds", "bench.load_repeats",
            "report.accuracy_floor", "data.main")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(RUN_KEYS), value=_values)
def test_any_run_setting_passes_the_checks_or_is_one_line_naming_it(cli, monkeypatch, key, value):
    """The same property for ``convbench run --set KEY=VALUE``: the study's steps are where its work begins."""
    import convbench.experiment.runner as runner

    def past_the_checks(*args: object, **kwargs: object) -> None:
        raise _PastTheChecks

    monkeypatch.setattr(runner, "_execute", past_the_checks)
    with tempfile.TemporaryDirectory() as name:
        workspace = Path(name)
        (workspace / "mine.txt").write_text("the user's")
        before = _tree(workspace)
        cwd = os.getcwd()
        os.chdir(workspace)
        try:
            rc, out, err = cli("run", "--out", "out", "--quiet", "--set", f"{key}={value}")
        except _PastTheChecks:
            return
        finally:
            os.chdir(cwd)
        after = _tree(workspace)
    assert rc != 0
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    field = key.split(".")[1]
    assert field in lines[0] or key in lines[0] or (value.strip() and value.strip() in lines[0]), lines[0]
    assert {k: v for k, v in after.items() if not k.startswith("out")} == before


def test_valid_run_settings_reach_the_sentinel(cli, monkeypatch, tmp_path):
    import convbench.experiment.runner as runner

    monkeypatch.setattr(runner, "_execute", lambda *a, **k: (_ for _ in ()).throw(_PastTheChecks()))
    with pytest.raises(_PastTheChecks):
        cli("run", "--out", tmp_path / "out", "--quiet", "--set", "train.epochs=1")
