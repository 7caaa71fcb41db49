"""``early_exit_train``: train the ``[early_exit]`` network (a backbone with an exit branch) and its baseline (the
same backbone without it) on the main + redundant mix: once per study, or once per ``[[early_exit.runs]]`` entry,
each on some of the named ``[early_exit.sources]`` at their shares (e.g. leave-one-source-out).

Its settings are exactly the dict the study hashed before step kinds were typed, so a model trained then keeps
its key and is never trained again (the open-world settings added since are left out of the key at their defaults).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convbench.checks import TrainingOptions, calibration_goal, cue_names
from convbench.data import Dataset, check_spec
from convbench.early_exit.placement import PlacementOptions, candidate_points
from convbench.early_exit.placement_timing import time_placement
from convbench.early_exit.training import MixOptions, NetworkOptions, OpenWorldOptions, train_early_exit
from convbench.errors import ConfigError, DataError, ModelError
from convbench.experiment.inputs import DataInputs, TrainingInputs, data_inputs, fingerprint
from convbench.experiment.step import Planned, Step, StepContext, StepKind, StepOutputs, make_step, register_kind
from convbench.vocabulary import DEFAULT_EXIT_HEAD, DEFAULT_OUTLIER_SHARE

if TYPE_CHECKING:
    from convbench.experiment.schema import EarlyExitConfig, EarlyExitRunConfig, Experiment

# [early_exit] fields that shape the networks and the mix, and [train] fields (each may be overridden by
# [early_exit]'s own epochs / batch_size / patience)
_MODEL_FIELDS = ("backbone", "width", "exit_after", "exit_head", "input_size", "channels", "invert_redundant",
                 "redundancy", "max_train", "dropout")
_TRAIN_FIELDS = ("epochs", "batch_size", "patience", "seed", "augment", "val_fraction")


class EarlyExitTrainSettings(DataInputs, TrainingInputs):
    """The networks, the mix and the training run; ``data`` is the main set, ``redundant`` the other."""

    backbone: str
    width: float
    exit_after: str | tuple[str, ...]  # one point, "auto" or several: a placement sweep
    input_size: int | None
    channels: int | None
    invert_redundant: bool
    redundancy: float | None
    max_train: int | None
    dropout: float
    redundant: str
    redundant_fingerprint: str | None
    exit_head: tuple[int, ...] = DEFAULT_EXIT_HEAD  # left out of the key at its default, as every setting added since
    # open world (each left out of the key at its default)
    sources: tuple[tuple[str, float], ...] = ()  # (data spec, share) of several redundant sources; (): ``redundant``
    source_fingerprints: tuple[str | None, ...] = ()
    trained_on: tuple[str, ...] = ()  # the sources' names in [early_exit.sources], for "trained on → tested on"
    augment_cues: tuple[str, ...] = ()  # the cues varied (convbench.vocabulary.CUES)
    outlier_exposure: str | None = None
    outlier_fingerprint: str | None = None
    outlier_share: float = DEFAULT_OUTLIER_SHARE
    max_false_exit: float | None = None
    exit_rate: float | None = None
    calibration_confidence: float | None = None
    calibration_images: int = 0
    # placement sweep (left out of the key at their defaults, which a one-point study keeps)
    min_accuracy: float | None = None
    place_form: str = PlacementOptions.form
    place_threads: int = PlacementOptions.threads
    place_repeats: int = PlacementOptions.repeats
    place_limit: int = PlacementOptions.limit


class EarlyExitTrainOutputs(StepOutputs):
    """Both models (paths relative to the step's folder) and the figures the report's training table shows."""

    model: str
    baseline: str
    training: str
    test_accuracy: float
    baseline_test_accuracy: float
    exit_accuracy: float | None
    threshold: float  # the one exit_accuracy was scored at: the calibrated one when calibration is set
    params: int
    baseline_params: int
    stem_share: float
    exit_share: float
    backbone: str
    width: float
    exit_after: str
    trained_on: tuple[str, ...] = ()
    calibration: dict[str, Any] | None = None
    placement: dict[str, Any] | None = None  # the placement sweep (PlacementSweep.to_dict()), None: one point


def redundant_data(settings: EarlyExitTrainSettings, ctx: StepContext) -> Dataset | list[Dataset]:
    """The redundant set(s) the step trains on, loaded, as :func:`~convbench.early_exit.training.train_early_exit`
    takes them (the outlier-exposure set apart)."""
    if settings.sources:
        return [ctx.datasets(spec) for spec, _ in settings.sources]
    return ctx.datasets(settings.redundant)


def mix_data(settings: EarlyExitTrainSettings, ctx: StepContext) -> Dataset | list[Dataset]:
    """Every redundant set the trained mix draws from, loaded, as :func:`~convbench.data.load_pools` takes them for
    that mix: its sources in order, the outlier-exposure set last, and a mix of one source as that one set."""
    sets = redundant_data(settings, ctx)
    sets = [sets] if isinstance(sets, Dataset) else sets
    if settings.outlier_exposure is not None:
        sets.append(ctx.datasets(settings.outlier_exposure))
    return sets if len(sets) > 1 else sets[0]


@register_kind
class EarlyExitTrainKind(StepKind[EarlyExitTrainSettings, EarlyExitTrainOutputs]):
    name = "early_exit_train"
    stage = 40  # after the candidates' training, export and parity; before any timing
    Settings = EarlyExitTrainSettings
    Outputs = EarlyExitTrainOutputs
    draws_own_progress = True  # the per-epoch bars of both networks

    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[EarlyExitTrainSettings]]:
        ee = experiment.early_exit
        if ee is None:
            return []
        train = {k: getattr(experiment.train, k) for k in _TRAIN_FIELDS}
        overrides = {k: getattr(ee, k) for k in ("epochs", "batch_size", "patience") if getattr(ee, k) is not None}
        common = {**{k: getattr(ee, k) for k in _MODEL_FIELDS}, **(train | overrides),
                  **data_inputs(experiment.data.main), **_calibration(ee), **_placement(ee)}
        if not ee.runs:
            redundant = experiment.data.redundant
            assert redundant is not None  # the schema requires it with [early_exit] and no runs
            settings = EarlyExitTrainSettings(**common, redundant=redundant,
                                              redundant_fingerprint=fingerprint(redundant), **_remedies(ee, None))
            return [make_step(EarlyExitTrainKind, ee.label(), settings, model=ee.label())]
        steps = []
        for i, run in enumerate(ee.runs):
            specs = [_checked(ee.sources[name], f"early_exit.sources.{name}") for name in run.train_on]
            settings = EarlyExitTrainSettings(
                **common, redundant="+".join(specs), redundant_fingerprint=None,
                sources=tuple(zip(specs, run.train_on.values(), strict=True)),
                source_fingerprints=tuple(fingerprint(spec) for spec in specs), trained_on=tuple(run.train_on),
                **_remedies(ee, run, f"early_exit.runs[{i}]"))
            label = f"{ee.label()}_{run.name}"
            steps.append(make_step(EarlyExitTrainKind, label, settings, model=label))
        return steps

    def run(self, step: Step[EarlyExitTrainSettings], ctx: StepContext) -> EarlyExitTrainOutputs:
        s = step.settings
        result = train_early_exit(ctx.datasets(s.data), redundant_data(s, ctx), out=ctx.dir, network=_network(s),
                                  training=_training(s), mix=_mix(s), open_world=_open_world(s, ctx),
                                  calibration=calibration_goal(s.max_false_exit, s.exit_rate,
                                                               s.calibration_confidence, s.calibration_images),
                                  resume=True, progress=ctx.progress)
        report = result.report
        return EarlyExitTrainOutputs(
            model=str(result.model_path.relative_to(ctx.dir)), baseline=str(result.baseline_path.relative_to(ctx.dir)),
            training=str(result.report_path.relative_to(ctx.dir)), test_accuracy=report["early_exit"]["test_accuracy"],
            baseline_test_accuracy=report["baseline"]["test_accuracy"],
            exit_accuracy=report["early_exit"]["test_metrics"].get("exit_accuracy"),
            params=report["early_exit"]["params"], baseline_params=report["baseline"]["params"],
            stem_share=report["stem_share"], exit_share=report["exit_share"], backbone=s.backbone, width=s.width,
            exit_after=report["exit_after"], trained_on=s.trained_on, placement=report.get("placement"),
            threshold=report["early_exit"]["threshold"],
            calibration=report.get("calibration"))

    def summary(self, outputs: EarlyExitTrainOutputs) -> str:
        exit_accuracy = outputs.exit_accuracy if outputs.exit_accuracy is not None else float("nan")
        return (f"test accuracy {outputs.test_accuracy:.1%} (baseline {outputs.baseline_test_accuracy:.1%}), "
                f"exit accuracy {exit_accuracy:.1%}")


def _network(s: EarlyExitTrainSettings) -> NetworkOptions:
    return NetworkOptions(s.backbone, s.exit_after, s.exit_head, dropout=s.dropout, placement=PlacementOptions(
        s.min_accuracy, s.place_form, s.place_threads, s.place_repeats, s.place_limit, time_placement))


def _training(s: EarlyExitTrainSettings) -> TrainingOptions:
    return TrainingOptions(s.width, s.epochs, s.batch_size, s.patience, s.seed, s.val_fraction,
                           input_size=s.input_size, channels=s.channels, augment=s.augment)


def _mix(s: EarlyExitTrainSettings) -> MixOptions:
    return MixOptions(s.redundancy, [share for _, share in s.sources] or None, s.invert_redundant, s.max_train)


def _open_world(s: EarlyExitTrainSettings, ctx: StepContext) -> OpenWorldOptions:
    outlier = ctx.datasets(s.outlier_exposure) if s.outlier_exposure else None
    return OpenWorldOptions(s.augment_cues, outlier, s.outlier_share)


def _placement(ee: EarlyExitConfig) -> dict[str, Any]:
    """The placement sweep's settings, checked now (a point the backbone lacks fails the plan, naming the key):
    ``exit_after`` as a tuple and the sweep's goal and timing when it names several points (or ``auto``), else
    nothing (a one-point study keeps its key)."""
    try:
        points = candidate_points(ee.backbone, ee.exit_after)
    except (ModelError, ConfigError) as e:
        raise ConfigError(f"early_exit.exit_after: {e}") from None
    if isinstance(ee.exit_after, str) and ee.exit_after != "auto":
        return {}
    limit = ee.limit if ee.limit is not None else PlacementOptions.limit
    return {"exit_after": ee.exit_after if isinstance(ee.exit_after, str) else tuple(points),
            "min_accuracy": ee.min_accuracy, "place_form": ee.forms[0], "place_threads": ee.threads[0],
            "place_repeats": ee.repeats, "place_limit": limit}


def _calibration(ee: EarlyExitConfig) -> dict[str, float | int | None]:
    return {"max_false_exit": ee.max_false_exit, "exit_rate": ee.exit_rate,
            "calibration_confidence": ee.calibration_confidence, "calibration_images": ee.calibration_images}


def _remedies(ee: EarlyExitConfig, run: EarlyExitRunConfig | None, where: str = "early_exit") -> dict[str, Any]:
    """The open-world remedies of one exit: the run's own, else ``[early_exit]``'s."""
    augment_cues = run.augment_cues if run is not None and run.augment_cues is not None else ee.augment_cues
    outlier = run.outlier_exposure if run is not None and run.outlier_exposure is not None else ee.outlier_exposure
    share = run.outlier_share if run is not None and run.outlier_share is not None else ee.outlier_share
    if outlier is not None:
        _checked(outlier, f"{where}.outlier_exposure")
    return {"augment_cues": cue_names(augment_cues), "outlier_exposure": outlier,
            "outlier_fingerprint": fingerprint(outlier), "outlier_share": share}


def _checked(spec: str, where: str) -> str:
    """``spec`` when its dataset is known and its files exist, else a :class:`ConfigError` naming ``where``."""
    try:
        check_spec(spec)
    except DataError as e:
        raise ConfigError(f"{where}: {e}") from None
    return spec
