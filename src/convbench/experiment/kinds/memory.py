"""``memory``: the peak resident memory of a fresh process that loads one timed file in one runtime and runs it
(``[bench] memory = true``), measured apart from its timing; it joins that file's latency rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from convbench.bench.memory import peak_memory
from convbench.experiment.inputs import MachineInputs, machine_inputs
from convbench.experiment.kinds.bench import fewest_threads
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment


class MemorySettings(MachineInputs):
    """The runtime and its threads (the fewest the study times the file with)."""

    runtime: str
    threads: int


class MemoryOutputs(StepOutputs):
    """Peak resident memory before the load and of the whole process, in bytes."""

    baseline_bytes: int
    peak_bytes: int


@register_kind
class MemoryKind(StepKind[MemorySettings, MemoryOutputs]):
    name = "memory"
    stage = 55  # after every timing: its processes never run beside a timed one
    Settings = MemorySettings
    Outputs = MemoryOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[MemorySettings]]:
        if not experiment.bench.memory:
            return []
        machine = machine_inputs()
        return [make_step(MemoryKind, timed.name.rsplit(" ", 1)[0],
                          MemorySettings(runtime=timed.runtime, threads=timed.threads, **machine),
                          (timed.source,), model=timed.model)
                for timed in fewest_threads(experiment, planned)]

    def run(self, step: Step[MemorySettings], ctx: StepContext) -> MemoryOutputs:
        (source,) = ctx.needs
        result = peak_memory(source.path(source.outputs.model), runtime=step.settings.runtime,
                             threads=step.settings.threads)
        return MemoryOutputs(baseline_bytes=result.baseline_bytes, peak_bytes=result.peak_bytes)

    def summary(self, outputs: MemoryOutputs) -> str:
        return (f"peak {outputs.peak_bytes / 1e6:,.1f} MB, "
                f"{(outputs.peak_bytes - outputs.baseline_bytes) / 1e6:,.1f} MB of it for the model")

    def contribute(self, done: Done[MemoryOutputs], results: StudyResults) -> None:
        """The figures join every latency row of the same file in the same runtime (each thread count)."""
        source = results.finished[done.step.needs[0]]
        results.join_latency(source, done.step.settings.runtime, peak_memory_bytes=done.outputs.peak_bytes,
                             model_memory_bytes=done.outputs.peak_bytes - done.outputs.baseline_bytes)

