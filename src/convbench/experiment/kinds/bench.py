"""``bench``: time one model file (the Keras model or an exported file) in one runtime of ``[bench]`` at one
thread count on one target, phase by phase; its finished steps are the study's latency rows.

One step per target (``[bench] targets``), so a study that loses a board mid-run keeps every target already
timed and, run again, times only the remaining ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from convbench.bench import BenchResult, bench
from convbench.bench.targets import aggregates_only, bench_on, open_target, target_of
from convbench.experiment.inputs import DataInputs, MachineInputs, data_inputs, machine_inputs
from convbench.experiment.kinds.export import ExportKind, ExportSettings
from convbench.experiment.kinds.parity import ParityKind, ParityOutputs
from convbench.experiment.kinds.train import TrainKind, TrainOutputs
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.vocabulary import DEFAULT_RUNTIMES, DEFAULT_TARGET, RUNTIMES

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment

RESULT_FILE = "bench.json"


class BenchSettings(DataInputs, MachineInputs):
    """The runtime, its threads, the target and the harness's protocol (``[bench]``)."""

    runtime: str
    threads: int
    runs: int
    min_seconds: float
    warmup: int
    warmup_seconds: float
    target: str = DEFAULT_TARGET  # left out of the key at its default: local steps keep their earlier keys


class BenchOutputs(StepOutputs):
    """The :class:`~convbench.bench.BenchResult` file and its headline figure."""

    result: str
    median_ms: float
    unstable: bool


@register_kind
class BenchKind(StepKind[BenchSettings, BenchOutputs]):
    name = "bench"
    stage = 50  # after every training and export: timings run back to back
    Settings = BenchSettings
    Outputs = BenchOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[BenchSettings]]:
        bench_config = experiment.bench
        protocol = {k: getattr(bench_config, k) for k in ("runs", "min_seconds", "warmup", "warmup_seconds")}
        inputs = {**data_inputs(experiment.data.main), **machine_inputs()}
        steps = []
        targets = [open_target(t) for t in bench_config.targets]
        for train in planned.of(TrainKind):
            files = [("keras", "keras", train)] + [(e.settings.to, f"{e.settings.to} {e.settings.quantize}", e)
                                                   for e in planned.of(ExportKind, train.model)]
            for runtime, threads_list in bench_config.runtimes.items():
                for file_format, file_name, source in files:
                    if file_format not in RUNTIMES[runtime].file_formats:
                        continue
                    for threads in threads_list:
                        for target in targets:
                            if target.runtimes is not None and runtime not in target.runtimes:
                                continue  # e.g. Keras files on a phone
                            settings = BenchSettings(runtime=runtime, threads=threads, target=target.name,
                                                     **protocol, **inputs)
                            where = "" if target.name == DEFAULT_TARGET else f" on {target.name}"
                            steps.append(make_step(BenchKind, f"{train.model} {file_name} {runtime} {threads}t{where}",
                                                   settings, (source,), model=train.model))
        return steps

    def run(self, step: Step[BenchSettings], ctx: StepContext) -> BenchOutputs:
        s = step.settings
        (source,) = ctx.needs
        protocol = dict(runs=s.runs, min_seconds=s.min_seconds, warmup=s.warmup, warmup_seconds=s.warmup_seconds,
                        data=s.data)
        model = source.path(source.outputs.model)
        if s.target == DEFAULT_TARGET:
            result = bench(model, runtime=s.runtime, threads=s.threads, **protocol)
        else:
            (result,) = bench_on(s.target, [model], runtime=s.runtime, threads=s.threads, **protocol)
        result.save(ctx.dir / RESULT_FILE)
        return BenchOutputs(result=RESULT_FILE, median_ms=result.inference.median * 1e3,
                            unstable=result.inference.unstable)

    def summary(self, outputs: BenchOutputs) -> str:
        return f"median {outputs.median_ms:.3f} ms" + (" (unstable)" if outputs.unstable else "")

    def contribute(self, done: Done[BenchOutputs], results: StudyResults) -> None:
        """One latency row: the file's bench result with what the study knows of the file (its model's figures,
        its export mode, and the accuracy of that very file in that very runtime, from its parity step)."""
        source = results.finished[done.step.needs[0]]
        exported = source.step.kind == ExportKind.name
        trained: Done[TrainOutputs] = results.finished[source.step.needs[0]] if exported else source
        export: ExportSettings | None = source.step.settings if exported else None
        runtime = done.step.settings.runtime
        checked = [p for p in results.dependents(source.step.key, ParityKind)
                   if (p.step.settings.runtime or DEFAULT_RUNTIMES[export.to if export else "keras"]) == runtime]
        parity: ParityOutputs | None = checked[0].outputs if checked else None
        model = results.models[trained.step.key]
        bench_file = done.path(done.outputs.result)
        result = BenchResult.load(bench_file)
        if export is None:  # the Keras model itself: its accuracy is the test accuracy, trivially in parity
            accuracy, agreement, max_abs_diff = model["test_accuracy"], 1.0, 0.0
        else:
            accuracy, agreement, max_abs_diff = ((parity.accuracy, parity.agreement, parity.max_abs_diff) if parity
                                                 else (None, None, None))
        row = {
            "kind": "latency", "model": model["model"], "arch": model["arch"], "width": model["width"],
            "input_size": model["input_size"], "dataset": model["dataset"],
            "format": export.to if export else "keras", "quantize": export.quantize if export else "none",
            "runtime": result.runtime["name"], "runtime_version": result.runtime.get("version"),
            "threads": result.runtime["threads"], "delegate": result.runtime.get("delegate"),
            "params": model["params"], "macs": model["macs"], "size_bytes": result.model["size_bytes"],
            "sha256": result.model["sha256"], "accuracy": accuracy, "keras_accuracy": model["test_accuracy"],
            "agreement": agreement, "max_abs_diff": max_abs_diff, **result.figures_ms(), "target": target_of(result),
            "device": result.environment.get("device"),
            **({"ci95_low_ms": None, "ci95_high_ms": None, "samples": "aggregates only"}
               if aggregates_only(result) else {}),
            "file": results.relative(result.model["path"]), "bench_file": results.relative(bench_file),
            "environment": result.environment}
        results.add_latency(row, result)


def fewest_threads(planned: Planned) -> list[Step[BenchSettings]]:
    """Per timed file × runtime, its bench step with the fewest threads: where a kind that measures something
    other than latency (memory, a per-op profile) looks once per file and runtime."""
    fewest: dict[tuple[str, str], Step[BenchSettings]] = {}  # (file's step key, runtime) → its bench
    for step in planned.of(BenchKind):
        if step.settings.target != DEFAULT_TARGET:  # memory and profiles are measured on this machine
            continue
        key = (step.needs[0], step.settings.runtime)
        if key not in fewest or step.settings.threads < fewest[key].settings.threads:
            fewest[key] = step
    return list(fewest.values())
