"""``bench``: time every file of a study (the Keras models and the exported files) in each runtime of ``[bench]``
at each thread count, side by side in interleaved rounds, on one target; its finished steps are the study's
latency rows.

One step per target, timing all of that target's configurations together (``[bench] rounds``, each round in a
fresh shuffled order): the recommendation compares configurations round by round
(:func:`convbench.bench.verdict.verdict`), which only configurations timed in the same rounds allow. Timed one
after another, each in its own stretch, the default study named opposite files "clearly ahead" on two runs of one
commit. A study that loses a board mid-run keeps every target already timed and, run again, times only the
remaining ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from convbench.bench import BenchCase, BenchResult
from convbench.bench.targets import aggregates_only, bench_on, open_target, target_of
from convbench.experiment.inputs import DataInputs, MachineInputs, data_inputs, machine_inputs
from convbench.experiment.kinds.export import ExportKind, ExportSettings
from convbench.experiment.kinds.parity import ParityKind, ParityOutputs
from convbench.experiment.kinds.train import TrainKind, TrainOutputs
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.report.records import LatencyRow
from convbench.vocabulary import DEFAULT_RUNTIMES, DEFAULT_TARGET, RUNTIMES

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment


class TimedConfig(BaseModel):
    """One configuration of a bench step: the file written by the step's ``source``-th need, in a runtime at a
    thread count (no names: renaming a model keeps its timings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: int
    runtime: str
    threads: int


class BenchSettings(DataInputs, MachineInputs):
    """The configurations, the target and the harness's protocol (``[bench]``)."""

    configs: tuple[TimedConfig, ...]
    runs: int
    min_seconds: float
    warmup: int
    warmup_seconds: float
    rounds: int
    target: str = DEFAULT_TARGET


class BenchOutputs(StepOutputs):
    """One :class:`~convbench.bench.BenchResult` file per configuration (in the order of ``configs``), their
    headline figures, and whether the machine was busy while they were timed."""

    results: list[str]
    median_ms: list[float]
    busy: bool


@dataclass(frozen=True)
class TimedFile:
    """A file × runtime × threads that a bench step times: what a kind measuring something else of the same
    file (peak memory, a per-op profile) plans from."""

    source: Step[Any]
    runtime: str
    threads: int
    name: str
    model: str


@register_kind
class BenchKind(StepKind[BenchSettings, BenchOutputs]):
    name = "bench"
    stage = 50  # after every training and export: timings run back to back
    Settings = BenchSettings
    Outputs = BenchOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[BenchSettings]]:
        bench_config = experiment.bench
        protocol = {k: getattr(bench_config, k) for k in ("runs", "min_seconds", "warmup", "warmup_seconds", "rounds")}
        inputs = {**data_inputs(experiment.data.main), **machine_inputs()}
        steps = []
        for target in (open_target(t) for t in bench_config.targets):
            sources: list[Step[Any]] = []
            configs = []
            for timed in _timed_files(experiment, planned):
                if target.runtimes is not None and timed.runtime not in target.runtimes:
                    continue  # e.g. Keras files on a phone
                if timed.source not in sources:
                    sources.append(timed.source)
                configs.append(TimedConfig(source=sources.index(timed.source), runtime=timed.runtime,
                                           threads=timed.threads))
            if configs:
                settings = BenchSettings(configs=tuple(configs), target=target.name, **protocol, **inputs)
                steps.append(make_step(BenchKind, _step_name(settings), settings, sources))
        return steps

    def run(self, step: Step[BenchSettings], ctx: StepContext) -> BenchOutputs:
        s = step.settings
        protocol = dict(runs=s.runs, min_seconds=s.min_seconds, warmup=s.warmup, warmup_seconds=s.warmup_seconds,
                        data=s.data)
        configs = [BenchCase(ctx.needs[c.source].path(ctx.needs[c.source].outputs.model), c.runtime, c.threads)
                   for c in s.configs]
        results = bench_on(s.target, configs, rounds=s.rounds, **protocol)
        files = [result.save(ctx.dir / f"bench-{i}.json").name for i, result in enumerate(results)]
        load = results[0].machine_load
        return BenchOutputs(results=files, median_ms=[r.inference.median * 1e3 for r in results],
                            busy=load is not None and load.busy)

    def narrow(self, step: Step[BenchSettings], usable: list[Step[Any]]) -> Step[BenchSettings] | None:
        """The files whose steps finished, timed together without the ones that failed (an export refused by the
        converter must not leave the study with no timings at all)."""
        sources = [key for key in step.needs if key in {s.key for s in usable}]
        configs = tuple(c.model_copy(update={"source": sources.index(step.needs[c.source])})
                        for c in step.settings.configs if step.needs[c.source] in sources)
        if not configs:
            return None
        settings = step.settings.model_copy(update={"configs": configs})
        by_key = {s.key: s for s in usable}
        return make_step(BenchKind, _step_name(settings), settings, [by_key[k] for k in sources])

    def summary(self, outputs: BenchOutputs) -> str:
        busy = "; the machine was busy: no verdict will be called clear" if outputs.busy else ""
        return (f"{len(outputs.results)} configurations side by side, medians {min(outputs.median_ms):.3f}–"
                f"{max(outputs.median_ms):.3f} ms{busy}")

    def contribute(self, done: Done[BenchOutputs], results: StudyResults) -> None:
        """One latency row per configuration: its bench result with what the study knows of the file (its model's
        figures, its export mode, and the accuracy of that very file in that very runtime, from its parity step)."""
        for config, result_name in zip(done.step.settings.configs, done.outputs.results, strict=True):
            source = results.finished[done.step.needs[config.source]]
            bench_file = done.path(result_name)
            result = BenchResult.load(bench_file)
            results.add_latency(_row(source, config.runtime, result, bench_file, results), result)


def _step_name(settings: BenchSettings) -> str:
    where = "" if settings.target == DEFAULT_TARGET else f" on {settings.target}"
    return f"{len(settings.configs)} configurations{where}"


def _row(source: Done[Any], runtime: str, result: BenchResult, bench_file: Any,
         results: StudyResults) -> LatencyRow:
    exported = source.step.kind == ExportKind.name
    trained: Done[TrainOutputs] = results.finished[source.step.needs[0]] if exported else source
    export: ExportSettings | None = source.step.settings if exported else None
    checked = [p for p in results.dependents(source.step.key, ParityKind)
               if (p.step.settings.runtime or DEFAULT_RUNTIMES[export.to if export else "keras"]) == runtime]
    parity: ParityOutputs | None = checked[0].outputs if checked else None
    model = results.models[trained.step.key]
    if export is None:  # the Keras model itself: its accuracy is the test accuracy, trivially in parity
        accuracy, agreement, max_abs_diff = model.test_accuracy, 1.0, 0.0
    else:
        accuracy, agreement, max_abs_diff = ((parity.accuracy, parity.agreement, parity.max_abs_diff) if parity
                                             else (None, None, None))
    figures = result.figures_ms() | ({"ci95_low_ms": None, "ci95_high_ms": None, "samples": "aggregates only"}
                                     if aggregates_only(result) else {})
    return LatencyRow(
        model=model.model, arch=model.arch, width=model.width, input_size=model.input_size, dataset=model.dataset,
        format=export.to if export else "keras", quantize=export.quantize if export else "none",
        runtime=result.runtime["name"], runtime_version=result.runtime.get("version"),
        threads=result.runtime["threads"], delegate=result.runtime.get("delegate"), params=model.params,
        macs=model.macs, size_bytes=result.model["size_bytes"], sha256=result.model["sha256"], accuracy=accuracy,
        keras_accuracy=model.test_accuracy, agreement=agreement, max_abs_diff=max_abs_diff, **figures,
        target=target_of(result), parity_note=parity.note if parity and parity.note else None,
        device=result.environment.get("device"), file=results.relative(result.model["path"]),
        bench_file=results.relative(bench_file), environment=result.environment)


def _timed_files(experiment: Experiment, planned: Planned) -> list[TimedFile]:
    """Every model file of the study in every ``[bench]`` runtime that reads its format, at each thread count."""
    timed = []
    for train in planned.of(TrainKind):
        files = [("keras", "keras", train)] + [(e.settings.to, f"{e.settings.to} {e.settings.quantize}", e)
                                               for e in planned.of(ExportKind, train.model)]
        for runtime, threads_list in experiment.bench.runtimes.items():
            for file_format, file_name, source in files:
                if file_format not in RUNTIMES[runtime].file_formats:
                    continue
                timed += [TimedFile(source, runtime, threads, f"{train.model} {file_name} {runtime} {threads}t",
                                    train.model) for threads in threads_list]
    return timed


def fewest_threads(experiment: Experiment, planned: Planned) -> list[TimedFile]:
    """Per timed file × runtime, its timing with the fewest threads: where a kind that measures something other
    than latency (memory, a per-op profile) looks once per file and runtime, on this machine."""
    fewest: dict[tuple[str, str], TimedFile] = {}  # (file's step key, runtime) → its timing
    if DEFAULT_TARGET not in (open_target(t).name for t in experiment.bench.targets):
        return []  # memory and profiles are measured on this machine, beside the latencies timed here
    for timed in _timed_files(experiment, planned):
        key = (timed.source.key, timed.runtime)
        if key not in fewest or timed.threads < fewest[key].threads:
            fewest[key] = timed
    return list(fewest.values())
