"""The step-kind registry: every kind plans, runs, summarises and contributes through it, and a new kind is one
class (here: the download size of every exported file, gzipped, as an app store would ship it)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

import pytest

from convbench.experiment import list_kinds, load_experiment, make_plan, run, step_kind
from convbench.experiment import step as step_module
from convbench.experiment.kinds.export import ExportKind
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, StepSettings, make_step


class GzipSettings(StepSettings):
    level: int


class GzipOutputs(StepOutputs):
    gzip_bytes: int


class GzipKind(StepKind[GzipSettings, GzipOutputs]):
    """The example kind: one step per exported file; its rows land in results.csv and the history."""

    name = "gzip"
    stage = 25  # after export, before parity
    Settings = GzipSettings
    Outputs = GzipOutputs

    def plan(self, experiment: Any, planned: Planned) -> list[Step[GzipSettings]]:
        return [make_step(GzipKind, export.name, GzipSettings(level=9), (export,), model=export.model)
                for export in planned.of(ExportKind)]

    def run(self, step: Step[GzipSettings], ctx: StepContext) -> GzipOutputs:
        exported = ctx.need(ExportKind)
        data = exported.path(exported.outputs.model).read_bytes()
        return GzipOutputs(gzip_bytes=len(gzip.compress(data, compresslevel=step.settings.level)))

    def summary(self, outputs: GzipOutputs) -> str:
        return f"{outputs.gzip_bytes:,} bytes gzipped"

    def contribute(self, done: Done[GzipOutputs], results: Any) -> None:
        results.rows.append(GzipRow(done.step.model, done.step.name, done.outputs.gzip_bytes))


@dataclass(frozen=True)
class GzipRow:
    """The kind's row of results.csv and the history: a record that lays itself out flat."""

    model: str
    step: str
    gzip_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "gzip", "model": self.model, "step": self.step, "gzip_bytes": self.gzip_bytes}


@pytest.fixture
def gzip_kind(monkeypatch: pytest.MonkeyPatch) -> GzipKind:
    kind = GzipKind()
    monkeypatch.setitem(step_module._KINDS, kind.name, kind)  # registered for this test only
    return kind


def test_the_shipped_kinds_are_registered_in_stage_order():
    kinds = list_kinds()
    assert {"train", "export", "parity", "bench"} <= set(kinds)
    stages = [step_kind(name).stage for name in kinds]
    assert stages == sorted(stages)
    with pytest.raises(KeyError, match="unknown step kind 'nope'; known: train"):
        step_kind("nope")


def test_a_new_kind_is_planned_run_summarised_and_reported(small_toml, tmp_path, fake_steps, fast_plots, gzip_kind):
    plan = make_plan(load_experiment(small_toml))
    gzips = [s for s in plan if s.kind == "gzip"]
    exports = [s for s in plan if s.kind == "export"]
    assert [s.name for s in gzips] == [s.name for s in exports]
    assert all(s.needs == (e.key,) for s, e in zip(gzips, exports, strict=True))
    kinds_in_order = [s.kind for s in plan]
    assert kinds_in_order.index("gzip") > max(i for i, k in enumerate(kinds_in_order) if k == "export")

    study = run(small_toml, out=tmp_path / "out", progress=False)
    rows = [r for r in study.results["rows"] if r["kind"] == "gzip"]
    assert len(rows) == len(exports) and all(r["gzip_bytes"] > 0 for r in rows)
    assert "gzip_bytes" in (tmp_path / "out" / "results.csv").read_text().splitlines()[0]
    log = (tmp_path / "out" / "run.log").read_text()
    assert "bytes gzipped" in log

    again = run(small_toml, out=tmp_path / "out", progress=False)  # its steps are cached like every other kind's
    assert again.ran == [] and [r for r in again.results["rows"] if r["kind"] == "gzip"] == rows


def test_done_markers_hold_typed_settings_and_outputs(small_toml, tmp_path, fake_steps, fast_plots):
    from convbench.experiment.cache import StudyFolder

    study = run(small_toml, out=tmp_path / "out", progress=False)
    folder = StudyFolder(tmp_path / "out")
    for step in study.plan:
        done = folder.done(step)
        assert done is not None and isinstance(done.outputs, step_kind(step.kind).Outputs)
        assert isinstance(step.settings, step_kind(step.kind).Settings)


def _timed_files_and_runtimes(benches):
    return {(b.needs[c.source], c.runtime) for b in benches for c in b.settings.configs}


def test_memory_steps_join_the_latency_rows_when_asked(small_toml, tmp_path, fake_steps, fast_plots):
    assert not [s for s in make_plan(load_experiment(small_toml)) if s.kind == "memory"]  # off by default
    plan = make_plan(load_experiment(small_toml, settings={"bench.memory": True, "bench.runtimes.litert": [1, 2]}))
    memory = [s for s in plan if s.kind == "memory"]
    benches = [s for s in plan if s.kind == "bench"]
    assert len(memory) == len(_timed_files_and_runtimes(benches))  # per file × runtime
    assert all(s.settings.threads == 1 for s in memory)  # the fewest threads the file is timed with
    assert max(i for i, s in enumerate(plan) if s.kind == "bench") < min(i for i, s in enumerate(plan)
                                                                         if s.kind == "memory")

    study = run(small_toml, out=tmp_path / "out", settings={"bench.memory": True}, progress=False)
    rows = study.results["latency"]
    assert rows and all(r["peak_memory_bytes"] > r["model_memory_bytes"] > 0 for r in rows)
    assert "| peak memory |" in (tmp_path / "out" / "report.md").read_text()
    assert "peak_memory_bytes" in (tmp_path / "out" / "results.csv").read_text().splitlines()[0]


def test_a_runtime_reading_several_formats_gets_its_files_and_its_own_parity(small_toml, tmp_path, fake_steps,
                                                                            fast_plots):
    settings = {"bench.runtimes": {"litert": [1], "openvino": [1]}}
    plan = make_plan(load_experiment(small_toml, settings=settings))
    exports = [s for s in plan if s.kind == "export"]
    assert {s.settings.to for s in exports} == {"tflite", "onnx"}  # openvino alone asks for the .onnx
    parity = [s for s in plan if s.kind == "parity"]
    assert len(parity) == 2 * len(exports)  # each file in its default runtime and in openvino
    assert {s.settings.runtime for s in parity} == {None, "openvino"}
    (bench,) = [s for s in plan if s.kind == "bench"]  # every file of the study in one interleaved timing
    assert len([c for c in bench.settings.configs if c.runtime == "openvino"]) == len(exports)  # .tflite and .onnx

    study = run(small_toml, out=tmp_path / "out", settings=settings, progress=False)
    rows = study.results["latency"]
    assert {r["accuracy"] for r in rows if r["runtime"] == "openvino"} == {0.91}  # that file in that runtime
    assert all(r["accuracy"] != 0.91 for r in rows if r["runtime"] == "litert")
    assert "OpenVINO" in (tmp_path / "out" / "report.md").read_text()


def test_parity_in_the_default_runtime_keeps_its_key():
    """A setting added with a default leaves the keys of steps that do not set it unchanged (no re-runs)."""
    from convbench.experiment.kinds.parity import ParityKind, ParitySettings

    data = {"data": "digits", "data_fingerprint": "embedded"}
    default = make_step(ParityKind, "m", ParitySettings(**data))
    assert default.key == make_step(ParityKind, "m", ParitySettings(**data, runtime=None)).key
    assert default.key != make_step(ParityKind, "m", ParitySettings(**data, runtime="openvino")).key


def test_op_profile_steps_report_where_the_time_goes_when_asked(small_toml, tmp_path, fake_steps, fast_plots):
    assert not [s for s in make_plan(load_experiment(small_toml)) if s.kind == "op_profile"]  # off by default
    settings = {"bench.op_profile": True, "bench.runtimes.onnxruntime": [1, 2]}
    plan = make_plan(load_experiment(small_toml, settings=settings))
    profiles = [s for s in plan if s.kind == "op_profile"]
    benches = [s for s in plan if s.kind == "bench"]
    assert len(profiles) == len(_timed_files_and_runtimes(benches))  # per file × runtime
    assert all(s.settings.threads == 1 for s in profiles)  # the fewest threads the file is timed with
    assert max(i for i, s in enumerate(plan) if s.kind == "bench") < min(i for i, s in enumerate(plan)
                                                                         if s.kind == "op_profile")

    study = run(small_toml, out=tmp_path / "out", settings={"bench.op_profile": True}, progress=False)
    assert not study.failed  # a runtime without a profiler is a finished step that says so
    entries = study.results["op_profiles"]
    assert {e["runtime"] for e in entries} == {"litert", "onnxruntime"}
    assert all(e["unavailable"] for e in entries if e["runtime"] == "litert")
    profiled = [e for e in entries if e["runtime"] == "onnxruntime"]
    assert profiled and all(e["top"][0]["node"] == "conv1" and e["top"][0]["share"] == 0.6 for e in profiled)
    assert all((tmp_path / "out" / e["node_data"]).is_file() for e in profiled)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Where the time goes" in report and "| Conv | conv1 |" in report
    assert "No per-operator profile from: LiteRT (no per-op profiler in Python)." in report
    assert "not available: no per-op profiler in Python" in (tmp_path / "out" / "run.log").read_text()


def test_reports_without_profiles_are_unchanged(small_toml, tmp_path, fake_steps, fast_plots):
    study = run(small_toml, out=tmp_path / "out", progress=False)
    assert "op_profiles" not in study.results
    assert "Where the time goes" not in (tmp_path / "out" / "report.md").read_text()
