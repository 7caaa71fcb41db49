"""``[bench] targets`` in a study: one bench step per target, timing its files side by side (local keys unchanged),
a failed target does not lose the others and a second run times only the remaining targets; the report and the
recommendation go per target.

Training, export and timing are the study tests' stand-ins (tests/experiment/fakes.py); the plan, runner, cache,
results and report run for real.
"""

from __future__ import annotations

import pytest
from experiment.fakes import SMALL_TOML, FakeSteps, blank_png

from convbench.bench import BenchResult
from convbench.errors import TargetError
from convbench.experiment import load_experiment, make_plan, run, step_kind
from convbench.vocabulary import HISTORY_ENV

BOARD = "ssh://pi@board"
PHONE = "adb://R58M60ABCDE"


@pytest.fixture
def toml(tmp_path, monkeypatch):
    monkeypatch.setenv(HISTORY_ENV, str(tmp_path / "history.sqlite"))
    path = tmp_path / "small.toml"
    path.write_text(SMALL_TOML, encoding="utf-8")
    return path


def _benches(plan, target=None):
    return [s for s in plan if s.kind == "bench" and target in (None, s.settings.target)]


def test_one_bench_step_per_target_and_the_local_keys_are_kept(toml):
    plain = make_plan(load_experiment(toml))
    plan = make_plan(load_experiment(toml, settings={"bench.targets": ["local", BOARD, PHONE]}))
    assert {s.key for s in _benches(plain)} == {s.key for s in _benches(plan, "local")}  # cached local timings stay
    (local,), (board,), (phone,) = (_benches(plan, t) for t in ("local", BOARD, PHONE))
    assert board.settings.configs == local.settings.configs  # the agent runs LiteRT and ONNX Runtime
    assert [c.runtime for c in phone.settings.configs] == [c.runtime for c in local.settings.configs
                                                          if c.runtime == "litert"]
    assert BOARD in board.name


def test_unknown_target_in_an_experiment_file(toml, cli):
    from support import assert_one_line_error

    rc, _, err = cli("run", toml, "--set", "bench.targets=['ftp://nowhere']", "--dry-run")
    assert_one_line_error(rc, err, "bench.targets", "ftp://nowhere")


@pytest.fixture
def fakes(monkeypatch):
    """The stand-ins, with each fake bench result recording the target its step names (as the real targets do)."""
    from convbench.report import plots, study_plots

    steps = FakeSteps().install(monkeypatch)
    for module, name in ((study_plots, "latency_ci"), (study_plots, "phases_stacked"),
                         (plots, "accuracy_vs_latency"), (plots, "size_vs_latency")):
        monkeypatch.setattr(module, name, blank_png)
    kind = step_kind("bench")
    fake_run = kind.run

    def run_with_target(step, ctx):
        outputs = fake_run(step, ctx)
        for name in outputs.results:
            result = BenchResult.load(ctx.dir / name)
            result.environment["target"] = step.settings.target
            result.save(ctx.dir / name)
        return outputs

    monkeypatch.setattr(kind, "run", run_with_target)
    return steps


def test_a_study_keeps_what_was_timed_and_resumes_the_remaining_target(toml, fakes, tmp_path):
    settings = {"bench.targets": ["local", BOARD]}
    remote = _benches(make_plan(load_experiment(toml, settings=settings)), BOARD)
    for step in remote:
        fakes.fail[step.name] = TargetError(f"target {BOARD}: unreachable (ssh: connect to host board port 22: "
                                            "Connection refused)")
    first = run(toml, out=tmp_path / "out", settings=settings, progress=False)
    assert set(first.failed) == {s.key for s in remote}
    assert {r["target"] for r in first.results["latency"]} == {"local"}
    assert "unreachable" in (tmp_path / "out" / "report.md").read_text()

    fakes.fail.clear()
    fakes.calls.clear()
    second = run(toml, out=tmp_path / "out", settings=settings, progress=False)
    assert sorted(fakes.calls["bench"]) == sorted(s.name for s in remote)  # only the remaining target is timed
    assert {r["target"] for r in second.results["latency"]} == {"local", BOARD}
    recommendation = second.results["recommendation"]
    assert set(recommendation["per_target"]) == {"local", BOARD}
    assert f"On {BOARD}: Ship" in recommendation["sentence"]
    assert f"on {BOARD}" in (tmp_path / "out" / "report.md").read_text()  # side by side in the latency table


def test_memory_measured_here_joins_only_the_rows_timed_here(toml, fakes, tmp_path):
    """Peak memory comes from a process on this machine: beside a latency timed on the board it would be a
    figure from another machine presented as the board's."""
    study = run(toml, out=tmp_path / "out", settings={"bench.targets": ["local", BOARD], "bench.memory": True},
                progress=False)
    rows = study.results["latency"]
    assert {r["target"] for r in rows} == {"local", BOARD}
    assert all(r.get("peak_memory_bytes") for r in rows if r["target"] == "local")
    assert not any(r.get("peak_memory_bytes") for r in rows if r["target"] == BOARD)
