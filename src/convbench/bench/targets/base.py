"""The Target contract: where a model is timed (this machine, a Linux board over SSH, an Android phone over adb).

A target kind is one :class:`Target` subclass decorated with :func:`register_target`, keyed by the scheme of its
spec (``local``, ``ssh://user@host:port``, ``adb://SERIAL``). Every kind does the same three things::

    target = open_target("ssh://pi@raspberrypi")   # parse the spec: a typed TargetSpec, nothing contacted yet
    env = target.prepare(runtimes)                  # reach it, check its tools: one-line TargetError otherwise
    results = target.run(configs, protocol)         # the measuring protocol there: BenchResults, as bench() gives

so the CLI, the study and the report never branch on a target kind. Results keep the one result format
(:class:`~convbench.bench.BenchResult`); the target and its :class:`TargetEnvironment` are recorded in the
result's ``environment`` (``target``, ``device``, ``cpu``, ``cores``, ``governor``, ``os`` …).
"""

from __future__ import annotations

import abc
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, TypeVar

from convbench.bench.harness import BenchCase
from convbench.bench.result import BenchResult
from convbench.bench.timer import validate_protocol
from convbench.checks import check_load_repeats, check_rounds
from convbench.errors import ConfigError
from convbench.vocabulary import BENCH_DEFAULTS, DEFAULT_TARGET, TARGET_FORMS

_TARGETS: dict[str, type[Target]] = {}  # scheme → Target subclass


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target spec.

    Attributes:
        kind: the registry key (``local``, ``ssh``, ``adb``).
        text: the spec as the user wrote it, normalised (``ssh://pi@raspberrypi:2222``): how results name it.
        user, host, port: for ``ssh`` (user and port optional: ``~/.ssh/config`` may supply them).
        serial: for ``adb`` (optional when exactly one device is attached).
    """

    kind: str
    text: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    serial: str | None = None


@dataclass(frozen=True)
class TargetEnvironment:
    """The machine a result was measured on, as the target reports it (``None``: not readable there).

    Attributes:
        target: the target spec text.
        device: the device model (``Raspberry Pi 4 Model B Rev 1.4``, ``samsung SM-G950F``), else the host name.
        cpu: the CPU's name; cores: its logical cores; governor: the cpufreq governor of cpu0.
        os: the operating system; machine: the ISA (``aarch64``); python: the interpreter running the agent.
        runtime, runtime_version: what timed the model there (``litert 2.3.0``, ``benchmark_model``).
        libraries: the versions of the libraries the agent imported.
    """

    target: str
    device: str | None = None
    cpu: str | None = None
    cores: int | None = None
    governor: str | None = None
    os: str | None = None
    machine: str | None = None
    python: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    libraries: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Protocol:
    """The measuring protocol every target runs (the keywords of :func:`~convbench.bench.bench_interleaved`)."""

    runs: int = BENCH_DEFAULTS.runs
    min_seconds: float = BENCH_DEFAULTS.min_seconds
    warmup: int = BENCH_DEFAULTS.warmup
    warmup_seconds: float = BENCH_DEFAULTS.warmup_seconds
    load_repeats: int = BENCH_DEFAULTS.load_repeats
    rounds: int = 1
    seed: int = 0
    image: str | os.PathLike[str] | None = None
    data: str | None = None
    memory: bool = False
    pin: Sequence[int] | None = None
    profile_ops: bool = False  # per-op times, where the target's tool gives them (adb: benchmark_model's tables)
    delegate: str | None = None  # adb: "gpu" or "nnapi" (None: CPU with XNNPACK)

    def __post_init__(self) -> None:
        """Every target checks its protocol here, before it connects or copies anything (as the local harness)."""
        validate_protocol(runs=self.runs, min_seconds=self.min_seconds, warmup=self.warmup,
                          warmup_seconds=self.warmup_seconds)
        check_load_repeats(self.load_repeats)
        check_rounds(self.rounds)


class Target(abc.ABC):
    """Times model files somewhere. Subclasses set ``kind`` (and ``runtimes`` when not every runtime can run there)
    and implement :meth:`parse`, :meth:`prepare` and :meth:`run`."""

    kind: ClassVar[str]
    runtimes: ClassVar[tuple[str, ...] | None] = None  # the runtimes it can time files in (None: every one)

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        """How messages and results name the target (its spec text)."""
        return self.spec.text

    @classmethod
    @abc.abstractmethod
    def parse(cls, text: str, rest: str) -> TargetSpec:
        """The spec for ``text`` (``rest``: what follows ``scheme://``, empty for a bare scheme);
        :class:`ConfigError` naming ``text`` when it is malformed."""

    @abc.abstractmethod
    def prepare(self, runtimes: Sequence[str]) -> TargetEnvironment:
        """Reach the target and check it can time files in ``runtimes``, before any long work;
        :class:`~convbench.errors.TargetError` naming the target and the fix otherwise."""

    @abc.abstractmethod
    def run(self, configs: Sequence[BenchCase], protocol: Protocol) -> list[BenchResult]:
        """Time ``configs`` there under ``protocol``: one :class:`BenchResult` per config, in order, each with the
        target recorded in its ``environment``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


T = TypeVar("T", bound=type[Target])


def register_target(cls: T) -> T:
    """Class decorator: make ``cls`` available to :func:`open_target` under the scheme ``cls.kind``."""
    if cls.kind in _TARGETS:
        warnings.warn(f"target kind {cls.kind!r} registered twice", stacklevel=2)
    _TARGETS[cls.kind] = cls
    return cls


def list_target_kinds() -> list[str]:
    """The registered target kinds (schemes)."""
    return sorted(_TARGETS)


def parse_target(text: str | TargetSpec | None) -> TargetSpec:
    """``"ssh://pi@board:2222"`` → ``TargetSpec(kind="ssh", user="pi", host="board", port=2222, …)``.

    ``None`` and ``"local"`` are this machine. :class:`ConfigError` naming the text and the accepted forms for an
    unknown scheme or a malformed spec.
    """
    if isinstance(text, TargetSpec):
        return text
    text = (text or DEFAULT_TARGET).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = text, ""
    cls = _TARGETS.get(scheme)
    if cls is None:
        raise ConfigError(f"unknown target {text!r}; expected one of: {', '.join(TARGET_FORMS)}")
    return cls.parse(text, rest)


def open_target(text: str | TargetSpec | None) -> Target:
    """The :class:`Target` for a spec (text or parsed); nothing is contacted until :meth:`Target.prepare`."""
    spec = parse_target(text)
    return _TARGETS[spec.kind](spec)


def target_of(result: BenchResult) -> str:
    """The target a result was measured on (``local`` for results from before targets existed)."""
    return str(result.environment.get("target") or DEFAULT_TARGET)


def aggregates_only(result: BenchResult) -> bool:
    """True when the result's inference phase holds a tool's aggregates (avg, std, min, max) instead of raw
    per-call samples: statistics that need samples (CIs, significance) are then not available."""
    return bool(result.inference.metadata.get("aggregates_only"))
