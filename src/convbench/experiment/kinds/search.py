"""``search``: an architecture search on ``[data] main`` (``[search]``), the study's report gaining its sections.

One step runs the whole search in its folder (:func:`convbench.search.search`, resumed when the step runs again
after an interruption, its folder then holding the study: its finished trials are kept). Its key hashes the data,
the floor, the target, the budget, the latency cap, the space file's content and the training settings, and the
machine (the latencies are this machine's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convbench.experiment.inputs import DataInputs, MachineInputs, data_inputs, machine_inputs
from convbench.experiment.step import Done, Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.search import (
    RESULT_FILE,
    STUDY_DB,
    SearchResult,
    load_space,
    parse_budget,
    parse_deployment,
    search,
)

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment


class SearchStepSettings(DataInputs, MachineInputs):
    """``[search]`` with ``[train]``'s seed and validation fraction; the space as its (checked) content."""

    floor: float
    target: str
    budget_s: float
    space: str  # JSON of the resolved SearchSpace: an edited space file changes the key
    epochs: int | None
    max_trials: int | None
    max_latency: float | None = None
    seed: int
    val_fraction: float
    val_split: str = "random"
    val_repeats: int = 1
    ray: str | None


class SearchOutputs(StepOutputs):
    """The result file and the recommendation's figures."""

    result: str
    recommended: str | None
    latency_ms: float | None
    test_accuracy: float | None
    trials: int


@register_kind
class SearchKind(StepKind[SearchStepSettings, SearchOutputs]):
    name = "search"
    stage = 80  # after every other step: its own timings never run beside a step of the study
    Settings = SearchStepSettings
    Outputs = SearchOutputs
    draws_own_progress = True  # the live view of trials

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[SearchStepSettings]]:
        config = experiment.search
        if config is None:
            return []
        # Checked here, before any step runs: a bad target, budget or space file fails the plan in one line.
        target, budget_s = parse_deployment(config.target), parse_budget(config.budget)
        space = load_space(Path(config.space) if config.space else None)
        settings = SearchStepSettings(floor=config.floor, target=str(target), budget_s=budget_s,
                                      space=space.model_dump_json(), epochs=config.epochs,
                                      max_trials=config.max_trials, max_latency=config.max_latency,
                                      seed=experiment.train.seed,
                                      val_fraction=experiment.train.val_fraction, val_split=config.val_split,
                                      val_repeats=config.val_repeats, ray=config.ray,
                                      **data_inputs(experiment.data.main), **machine_inputs())
        return [make_step(SearchKind, f"floor {config.floor:g} {target}", settings, model="search")]

    def run(self, step: Step[SearchStepSettings], ctx: StepContext) -> SearchOutputs:
        from convbench.search import SearchSpace

        s = step.settings
        result = search(ctx.datasets(s.data), floor=s.floor, out=ctx.dir, target=s.target, budget=s.budget_s,
                        space=SearchSpace.model_validate_json(s.space),
                        resume=(ctx.dir / STUDY_DB).exists(), ray=s.ray,
                        max_trials=s.max_trials, max_latency=s.max_latency, seed=s.seed, val_fraction=s.val_fraction,
                        val_split=s.val_split, val_repeats=s.val_repeats, progress=ctx.progress,
                        **({"epochs": s.epochs} if s.epochs is not None else {}))
        best = result.recommended
        return SearchOutputs(result=RESULT_FILE, recommended=best.params.label if best else None,
                             latency_ms=best.latency.median_ms if best and best.latency else None,
                             test_accuracy=result.test_accuracy(best.number) if best else None,
                             trials=len(result.trials))

    def summary(self, outputs: SearchOutputs) -> str:
        if outputs.recommended is None:
            return f"{outputs.trials} trials; none met the floor"
        return (f"{outputs.trials} trials; recommended {outputs.recommended}: {outputs.latency_ms:.4g} ms, "
                f"test {outputs.test_accuracy:.4f}")

    def contribute(self, done: Done[SearchOutputs], results: StudyResults) -> None:
        """The search's result (the report's search sections) and one results.csv row for its recommendation."""
        result = SearchResult.load(done.path(done.outputs.result))
        results.searches.append(result)
        best = result.recommended
        if best is not None and best.latency is not None:
            results.rows.append(SearchRow(result, results.dataset))


@dataclass(frozen=True)
class SearchRow:
    """A results.csv / history row: the recommendation of a search that recommended a timed model."""

    result: SearchResult
    dataset: str

    def to_dict(self) -> dict[str, Any]:
        result, best = self.result, self.result.recommended
        assert best is not None and best.latency is not None  # contribute() adds the row only then
        return {"kind": "search", "model": best.params.label, "arch": best.params.arch, "width": best.params.width,
                "dataset": self.dataset, "format": "tflite", "quantize": best.params.quantize,
                "runtime": result.settings.target.runtime, "threads": best.params.threads,
                "median_ms": best.latency.median_ms, "ci95_low_ms": best.latency.ci95_low_ms,
                "ci95_high_ms": best.latency.ci95_high_ms, "size_bytes": best.file_size_bytes,
                "params": best.params_count, "val_accuracy": best.val_accuracy,
                "accuracy": result.test_accuracy(best.number)}
