"""``op_profile``: where the time goes inside one timed file in one runtime (``[bench] op_profile = true``): the
runtime's own per-operator profile, and the same figures as Model Explorer node data, in the step's folder.

A runtime without a profiler in Python is not a failure: its step finishes and records why, and the report lists it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from convbench.bench.profile import PROFILE_RUNS, OpProfile, OpProfileUnavailable, profile_ops
from convbench.experiment.inputs import MachineInputs, machine_inputs
from convbench.experiment.kinds.bench import fewest_threads
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.report.op_profile import write_model_explorer
from convbench.report.records import ModelFile, NodeTime, OpProfileEntry, OpTypeShare, ProfiledOps

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment

TOP = 5  # nodes per file × runtime in the results and the report


class OpProfileSettings(MachineInputs):
    """The runtime, its threads (the fewest the study times the file with) and the profiled calls."""

    runtime: str
    threads: int
    runs: int = PROFILE_RUNS


class OpProfileOutputs(StepOutputs):
    """The profile and Model Explorer node data files, or why the runtime could not profile."""

    profile: str | None = None
    node_data: str | None = None
    unavailable: str | None = None


@register_kind
class OpProfileKind(StepKind[OpProfileSettings, OpProfileOutputs]):
    name = "op_profile"
    stage = 56  # after every timing (and the memory probes): profiled runs never share the cores with a timed one
    Settings = OpProfileSettings
    Outputs = OpProfileOutputs

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[OpProfileSettings]]:
        if not experiment.bench.op_profile:
            return []
        machine = machine_inputs()
        return [make_step(OpProfileKind, timed.name.rsplit(" ", 1)[0],
                          OpProfileSettings(runtime=timed.runtime, threads=timed.threads,
                                            **machine),
                          (timed.source,), model=timed.model)
                for timed in fewest_threads(experiment, planned)]

    def run(self, step: Step[OpProfileSettings], ctx: StepContext) -> OpProfileOutputs:
        (source,) = ctx.needs
        s = step.settings
        try:
            profile = profile_ops(source.path(source.outputs.model), runtime=s.runtime, threads=s.threads,
                                  runs=s.runs)
        except OpProfileUnavailable as e:
            return OpProfileOutputs(unavailable=e.reason)
        profile.save(ctx.dir / "op_profile.json")
        write_model_explorer(profile, ctx.dir / "op_profile.model_explorer.json")
        return OpProfileOutputs(profile="op_profile.json", node_data="op_profile.model_explorer.json")

    def summary(self, outputs: OpProfileOutputs) -> str:
        return f"not available: {outputs.unavailable}" if outputs.unavailable else "per-op profile written"

    def contribute(self, done: Done[OpProfileOutputs], results: StudyResults) -> None:
        """One entry per file × runtime: its slowest nodes with their shares, or why there is no profile."""
        source = results.finished[done.step.needs[0]]
        file, runtime = results.relative(source.path(source.outputs.model)), done.step.settings.runtime
        rows = results.latency_rows(source, runtime)
        timed = ModelFile(rows[0].model, rows[0].format, rows[0].quantize) if rows else None
        if done.outputs.unavailable is not None:
            results.op_profiles.append(OpProfileEntry(file, runtime, done.step.settings.threads, timed,
                                                      unavailable=done.outputs.unavailable))
            return
        assert done.outputs.profile is not None and done.outputs.node_data is not None  # run() writes both or neither
        profile = OpProfile.load(done.path(done.outputs.profile))
        ops = ProfiledOps(
            runtime_version=profile.version, runs=profile.runs, nodes=len(profile.nodes),
            profile=results.relative(done.path(done.outputs.profile)),
            node_data=results.relative(done.path(done.outputs.node_data)),
            top=tuple(NodeTime(op.op_type, op.node, profile.per_run_ms(op), op.share) for op in profile.top(TOP)),
            by_op_type=tuple(OpTypeShare(op.op_type, op.share) for op in profile.by_op_type()))
        results.op_profiles.append(OpProfileEntry(file, runtime, done.step.settings.threads, timed, ops=ops))
