"""The experiment file: one TOML file names the data, the candidate models and every setting of a study.

Validated before anything runs: unknown keys, bad values, unknown architecture or dataset names and
missing data files raise one :class:`~convbench.errors.ConfigError` naming the file and the key path,
e.g. ``experiment default.toml: train.epochs: must be ≥ 1, got 0``.

Relative data paths resolve against the current working directory (the shipped experiments live
inside the installed package, so "relative to the file" would mean nothing to a user); the same rule
holds for ``--data main=PATH`` on the command line.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from convbench.bench.timer import MAX_LOOP_SECONDS
from convbench.checks import MAX_ROUNDS, MAX_SEED, MAX_THREADS, MAX_WIDTH, calibration_goal
from convbench.errors import ConfigError
from convbench.naming import width_text
from convbench.vocabulary import (
    BENCH_DEFAULTS,
    DEFAULT_EXIT_HEAD,
    DEFAULT_OUTLIER_SHARE,
    DEFAULT_QUANTIZE,
    DEFAULT_ROUNDS,
    DEFAULT_TARGET,
    DEFAULT_THRESHOLD,
    DEFAULT_WIDTH,
    QUANTIZE_ALIASES,
    QUANTIZE_MODES,
    QUANTIZE_NAMES,
    TRAIN_DEFAULTS,
    CueName,
    EarlyExitForm,
    RuntimeName,
)

Count = Annotated[int, Field(ge=1)]
Threads = Annotated[list[Annotated[int, Field(ge=1, le=MAX_THREADS)]], Field(min_length=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]
Probability = Annotated[float, Field(gt=0, lt=1)]


def _known_quantize(mode: str) -> str:
    if QUANTIZE_ALIASES.get(mode, mode) not in QUANTIZE_MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(QUANTIZE_NAMES)}")
    return mode


QuantizeName = Annotated[str, AfterValidator(_known_quantize)]


def _known_target(text: str) -> str:
    if text == DEFAULT_TARGET:
        return text
    from convbench.bench.targets import parse_target  # lazy: only a study that times elsewhere pays the import

    return parse_target(text).text


TargetText = Annotated[str, AfterValidator(_known_target)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """``[data]``: data specs (``NAME``, ``NAME:PATH`` or ``NAME:PATH?key=value``)."""

    main: str = "digits"
    redundant: str | None = None  # early exit: images that belong to no class of interest


class TrainConfig(_Section):
    """``[train]``: training settings shared by every model (each ``[[models]]`` entry may override them)."""

    epochs: Count = TRAIN_DEFAULTS.epochs
    batch_size: Count = TRAIN_DEFAULTS.batch_size
    patience: Annotated[int, Field(ge=1)] = TRAIN_DEFAULTS.patience
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = TRAIN_DEFAULTS.seed
    augment: bool = False
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = TRAIN_DEFAULTS.val_fraction


class ModelConfig(_Section):
    """One ``[[models]]`` entry: a candidate architecture and its size."""

    arch: str
    width: Annotated[float, Field(gt=0, le=MAX_WIDTH)] = DEFAULT_WIDTH  # inf, NaN: refused
    input_size: Count | None = None  # None: the architecture's default
    channels: Literal[1, 3] | None = None  # None: the dataset's
    options: dict[str, bool | int | float | str] = Field(default_factory=dict)  # architecture options (dropout …)
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.+-]+$")] | None = None  # label in reports
    epochs: Count | None = None
    batch_size: Count | None = None
    patience: Annotated[int, Field(ge=1)] | None = None
    augment: bool | None = None

    def label(self, default_input_size: int) -> str:
        """The model's name in reports: ``name``, else ``{arch}_{width}_{input_size}`` (``mobilenet_v2_0.35_32``)."""
        return self.name or f"{self.arch}_{width_text(self.width)}_{self.input_size or default_input_size}"

    def train_settings(self, train: TrainConfig) -> dict[str, Any]:
        """``[train]`` with this model's overrides applied."""
        overrides = {k: getattr(self, k) for k in ("epochs", "batch_size", "patience", "augment")}
        return {**train.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}


class ExportConfig(_Section):
    """``[export]``: quantisation modes of the LiteRT files (ONNX files are exported in float32)."""

    quantize: Annotated[list[QuantizeName], Field(min_length=1)] = [DEFAULT_QUANTIZE]

    def modes(self) -> list[str]:
        """The distinct modes to export: aliases of ``dynamic`` give byte-identical files, so one file serves."""
        return list(dict.fromkeys(QUANTIZE_ALIASES.get(m, m) for m in self.quantize))


class BenchConfig(_Section):
    """``[bench]``: runtimes with their thread counts, and the latency harness's settings."""

    runtimes: dict[RuntimeName, Threads] = Field(default_factory=lambda: {"litert": [BENCH_DEFAULTS.threads]},
                                                 min_length=1)
    runs: Count = BENCH_DEFAULTS.runs
    min_seconds: Annotated[float, Field(ge=0, le=MAX_LOOP_SECONDS)] = BENCH_DEFAULTS.min_seconds  # inf, NaN: refused
    warmup: Annotated[int, Field(ge=0)] = BENCH_DEFAULTS.warmup
    warmup_seconds: Annotated[float, Field(ge=0, le=MAX_LOOP_SECONDS)] = BENCH_DEFAULTS.warmup_seconds
    rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)] = DEFAULT_ROUNDS  # every file of a target interleaved, in rounds
    memory: bool = False  # also the peak memory of every file × runtime, each in a fresh process
    op_profile: bool = False  # also a per-operator profile of every file × runtime, from the runtime's own profiler
    # where to time: local, ssh://[user@]host[:port], adb[://SERIAL]; one bench step per target
    targets: Annotated[list[TargetText], Field(min_length=1)] = [DEFAULT_TARGET]


SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
Share = Annotated[float, Field(gt=0)]


class EarlyExitRunConfig(_Section):
    """One ``[[early_exit.runs]]`` entry: an exit trained on some of ``[early_exit.sources]`` at their shares, with
    the open-world remedies it uses (``None``: ``[early_exit]``'s)."""

    name: SourceName
    train_on: Annotated[dict[SourceName, Share], Field(min_length=1)]  # source name → share of the redundant class
    augment_cues: bool | list[CueName] | None = None
    outlier_exposure: str | None = None  # data spec of a generic set joining the redundant class
    outlier_share: Annotated[float, Field(gt=0, lt=1)] | None = None


class EarlyExitConfig(_Section):
    """``[early_exit]``: a backbone with an exit branch and its baseline, trained on main + redundant images,
    then timed image by image in LiteRT on the test mix (and on each named redundant source alone)."""

    backbone: str = "vgg19"
    width: Annotated[float, Field(gt=0, le=MAX_WIDTH)] = DEFAULT_WIDTH  # inf, NaN: refused
    # the exit point; "auto" or a list of points: sweep them, keep the fastest meeting min_accuracy on validation
    exit_after: str | Annotated[list[str], Field(min_length=1)] = "block1"
    min_accuracy: Annotated[float, Field(ge=0, le=1)] | None = None  # placement goal (None: the baseline's)
    # hidden Dense units of the exit block before width scaling; []: MaxPool, Flatten, the 2-way softmax alone
    exit_head: list[Annotated[int, Field(ge=1)]] = list(DEFAULT_EXIT_HEAD)
    input_size: Count | None = None  # None: the backbone's default
    channels: Literal[1, 3] | None = None  # None: the main set's
    invert_redundant: bool = False  # flip the redundant set's polarity (Omniglot's dark strokes → MNIST's light)
    redundancy: Fraction | None = None  # redundant share of every split of the mix (None: every image of both)
    max_train: Annotated[int, Field(ge=2)] | None = None  # cap on the training mix (stratified), for CPU budgets
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # after the hidden Dense layers of both networks
    threshold: Probability = DEFAULT_THRESHOLD  # exit when P(redundant) ≥ threshold (not with a calibration goal)
    forms: Annotated[list[EarlyExitForm], Field(min_length=1)] = ["single"]  # LiteRT deployments
    threads: Threads = [1]
    repeats: Count = 3  # timed calls per test image
    limit: Annotated[int, Field(ge=2)] | None = None  # time at most this many images per test mix
    sweep: bool = False  # time redundancy 0 … 0.9 and sweep thresholds (first form and thread count)
    epochs: Count | None = None  # None: [train]'s
    batch_size: Count | None = None
    patience: Annotated[int, Field(ge=1)] | None = None
    # open world: named redundant sources every exit is tested on alone; exits trained on some of them (runs)
    sources: dict[SourceName, str] = Field(default_factory=dict)  # name → data spec
    runs: list[EarlyExitRunConfig] = Field(default_factory=list)  # none: one exit trained on [data] redundant
    # vary these cues of the training images at random (true: all of polarity, brightness, contrast)
    augment_cues: bool | list[CueName] = False
    outlier_exposure: str | None = None  # data spec of a generic set joining the redundant class
    outlier_share: Annotated[float, Field(gt=0, lt=1)] = DEFAULT_OUTLIER_SHARE  # its share of the redundant class
    max_false_exit: Annotated[float, Field(ge=0, lt=1)] | None = None  # calibrate on validation: main images exiting
    exit_rate: Annotated[float, Field(gt=0, lt=1)] | None = None  # … or: all images exiting
    calibration_confidence: Annotated[float, Field(gt=0, lt=1)] | None = None  # certify the goal for new images
    calibration_images: Annotated[int, Field(ge=0)] = 0  # held-out main images the capped mix leaves, also counted

    def label(self) -> str:
        place = self.exit_after if isinstance(self.exit_after, str) else "-".join(self.exit_after)
        return f"early_exit_{self.backbone}_{width_text(self.width)}_{place}"

    @model_validator(mode="after")
    def _open_world(self) -> EarlyExitConfig:
        try:
            calibration_goal(self.max_false_exit, self.exit_rate, self.calibration_confidence,
                             self.calibration_images,
                             threshold=self.threshold if "threshold" in self.model_fields_set else None)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        names = [run.name for run in self.runs]
        if len(set(names)) < len(names):
            raise ValueError(f"runs: names must differ, got {names}")
        for i, run in enumerate(self.runs):
            unknown = sorted(set(run.train_on) - set(self.sources))
            if unknown:
                raise ValueError(f"runs[{i}].train_on: unknown source {unknown[0]!r}; known (early_exit.sources): "
                                 f"{', '.join(self.sources) or 'none'}")
        return self


class SearchConfig(_Section):
    """``[search]``: an architecture search on ``[data] main`` (``convbench search``'s options; its report joins the
    study's). Target, budget and space file are checked when the study is planned."""

    floor: Annotated[float, Field(gt=0, le=1)]  # validation accuracy the found model must reach
    target: str = "litert:1"  # RUNTIME:THREADS the exported files are timed on
    budget: str = "60m"  # wall time: 60m, 90s, 1h30m
    space: str | None = None  # TOML file narrowing or widening the default space
    epochs: Count | None = None  # most epochs per trial (None: the search's default)
    max_trials: Count | None = None
    max_latency: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None  # hard cap (ms) on the median
    val_split: Literal["random", "groups"] = "random"  # groups: hold out whole groups (fruits360's frame sequences)
    val_repeats: Count = 1  # validation splits a trial must meet the floor on (the worst counts)
    ray: str | None = None  # auto or HOST:PORT of a Ray cluster


class ReportConfig(_Section):
    """``[report]``: the user's constraint, which the report's summary answers."""

    accuracy_floor: Annotated[float, Field(ge=0, le=1)] = 0.0  # recommend the fastest model at or above it
    runtime: RuntimeName | None = None  # rank only this runtime (None: every runtime in [bench])
    threads: Count | None = None  # rank only this thread count


class Experiment(_Section):
    """A whole study: what to train, export, time and compare."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    models: list[ModelConfig] = Field(default_factory=list)
    export: ExportConfig = ExportConfig()
    bench: BenchConfig = BenchConfig()
    early_exit: EarlyExitConfig | None = None
    search: SearchConfig | None = None
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if not self.models and self.early_exit is None and self.search is None:
            raise ValueError("models: the study has nothing to do: add [[models]] entries, an [early_exit] or a "
                             "[search] section")
        if self.early_exit is not None and not self.data.redundant and not self.early_exit.runs:
            raise ValueError("data.redundant: required by [early_exit] (a data spec of redundant images)")
        return self


_KEY_PATH_ITEM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_location(loc: tuple[str | int, ...]) -> str:
    """``("models", 2, "width")`` → ``models[2].width``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":  # pydantic's marker for a bad dict key: the key itself is the previous part
            continue
        else:
            text += ("." if text else "") + (part if _KEY_PATH_ITEM.match(part) else repr(part))
    return text
