"""The step contract: what one unit of a study's cached work is, and the registry of step kinds.

A study is a list of :class:`Step` objects. Each belongs to a **step kind** (train, export, parity,
bench, early-exit train …): one :class:`StepKind` subclass decorated with :func:`register_kind`, in one
file of :mod:`convbench.experiment.kinds`. The kind declares everything the rest of the pipeline needs
to know about it, so the planner, runner, display and results never switch on a kind's name:

- ``name`` and ``stage`` (kinds run stage by stage: all training first, all timing last);
- ``Settings``: the typed settings its steps take (what the cache key hashes);
- ``Outputs``: the typed record its steps leave in their done-marker;
- :meth:`StepKind.plan`: its steps for an experiment, given the steps planned by earlier stages;
- :meth:`StepKind.run`: the work, a thin call into the layer that owns it;
- :meth:`StepKind.summary`: the one line a person wants when a step ends;
- :meth:`StepKind.contribute`: the rows its finished steps add to the study's results;
- :meth:`StepKind.narrow`, optionally: what it can still do when some of its needs failed.

Adding a kind is one new file in ``kinds/`` (plus its import line in ``kinds/__init__.py``).
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from convbench.data import Dataset, load
from convbench.env import library_versions

if TYPE_CHECKING:
    from convbench.experiment.results import StudyResults
    from convbench.experiment.schema import Experiment


class StepSettings(BaseModel):
    """Base of every kind's settings: frozen, no unknown fields; their JSON is what the step's key hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StepOutputs(BaseModel):
    """Base of every kind's outputs: file names relative to the step's folder and the figures the report needs.

    Unknown fields are ignored, so done-markers written by earlier versions (with since-retired fields)
    stay readable and their steps stay cached.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


S = TypeVar("S", bound=StepSettings)
Out = TypeVar("Out", bound=StepOutputs)


@dataclass(frozen=True)
class Step(Generic[S]):
    """One unit of cached work.

    Attributes:
        kind: the name of its :class:`StepKind`.
        name: what it is, for people (``mobilenet_v2_0.35_32 tflite int8``).
        key: hex SHA-256 of kind, settings, the keys of ``needs`` and the library versions.
        settings: its kind's typed settings.
        needs: keys of the steps whose outputs it reads, in the order its kind expects them.
        model: label of the model it belongs to.
    """

    kind: str
    name: str
    key: str
    settings: S = field(hash=False)
    needs: tuple[str, ...] = ()
    model: str = ""

    @property
    def folder(self) -> str:
        """Its folder inside the study's output folder (named for people, unique by key)."""
        return f"steps/{self.kind}/{re.sub(r'[^A-Za-z0-9_.+-]+', '-', self.name)}-{self.key[:10]}"

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.name}"


def make_step(kind: type[StepKind[S, Any]], name: str, settings: S, needs: Iterable[Step[Any]] = (),
              model: str = "") -> Step[S]:
    """A step of ``kind`` whose key is the hash of its kind, settings, dependencies and library versions."""
    needs = tuple(needs)
    # Settings at their defaults are left out: a setting a kind gains later, with a default, keeps earlier keys.
    payload = {"kind": kind.name, "settings": settings.model_dump(mode="json", exclude_defaults=True),
               "needs": [s.key for s in needs], "versions": _versions()}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return Step(kind.name, name, key, settings, tuple(s.key for s in needs), model)


@functools.cache
def _versions() -> dict[str, str]:  # asked for every step: looking up package metadata takes milliseconds
    return library_versions()


@dataclass(frozen=True)
class Done(Generic[Out]):
    """A finished step, as its done-marker records it.

    Attributes:
        step: the step.
        dir: its folder (absolute).
        outputs: its kind's typed outputs.
    """

    step: Step[Any]
    dir: Path
    outputs: Out

    def path(self, name: str) -> Path:
        """The absolute path of a file the step wrote (``name`` relative to its folder)."""
        return self.dir / name


@dataclass
class DataCache:
    """Datasets loaded once per run (a study trains several models on the same data)."""

    loaded: dict[str, Dataset] = field(default_factory=dict)

    def __call__(self, spec: str) -> Dataset:
        if spec not in self.loaded:
            self.loaded[spec] = load(spec)
        return self.loaded[spec]


@dataclass
class StepContext:
    """What a step's work may use: its folder, the finished steps it needs, the run's data, progress."""

    dir: Path
    needs: tuple[Done[Any], ...]
    datasets: DataCache
    progress: bool = True

    def need(self, kind: type[StepKind[Any, Out]]) -> Done[Out]:
        """The finished step of ``kind`` that this step needs (its kind's plan gave it exactly one)."""
        (found,) = (done for done in self.needs if done.step.kind == kind.name)
        return found


class Planned:
    """The steps planned so far, for a kind to find the ones its steps need."""

    def __init__(self) -> None:
        self.steps: list[Step[Any]] = []

    def of(self, kind: type[StepKind[Any, Any]], model: str | None = None) -> list[Step[Any]]:
        """The planned steps of ``kind`` (of one ``model`` when given), in plan order."""
        return [s for s in self.steps if s.kind == kind.name and model in (None, s.model)]

    def by_key(self, key: str) -> Step[Any]:
        """The planned step with ``key``."""
        return next(s for s in self.steps if s.key == key)


class StepKind(abc.ABC, Generic[S, Out]):
    """A kind of step: see the module docstring for what each member is for.

    Subclasses set ``name``, ``stage``, ``Settings`` and ``Outputs`` and implement :meth:`plan`, :meth:`run`
    and :meth:`summary`; :meth:`contribute` is optional.
    """

    name: ClassVar[str]
    stage: ClassVar[int]  # kinds run in increasing stage; steps of one stage in plan order
    Settings: ClassVar[type[StepSettings]]
    Outputs: ClassVar[type[StepOutputs]]
    draws_own_progress: ClassVar[bool] = False  # its run shows its own bars (the study's display pauses)

    @abc.abstractmethod
    def plan(self, experiment: Experiment, planned: Planned) -> list[Step[S]]:
        """This kind's steps for ``experiment`` (``planned`` holds every step of earlier stages)."""

    @abc.abstractmethod
    def run(self, step: Step[S], ctx: StepContext) -> Out:
        """Do the step's work in ``ctx.dir``; return its outputs."""

    @abc.abstractmethod
    def summary(self, outputs: Out) -> str:
        """The one figure a person wants to see when a step ends."""

    def contribute(self, done: Done[Out], results: StudyResults) -> None:
        """Add what the finished step ``done`` shows to ``results`` (default: nothing)."""

    def narrow(self, step: Step[S], usable: list[Step[Any]]) -> Step[S] | None:
        """The step that does what ``step`` can still do when only the needs ``usable`` finished (others failed or
        were skipped), or ``None``: it is skipped (the default). A kind that gathers many inputs into one step (the
        interleaved timing of every file) narrows itself to the inputs that exist, under a key of its own, so a
        rerun in which every input finishes does the whole step again."""
        return None


_KINDS: dict[str, StepKind[Any, Any]] = {}  # kind name → its (stateless) instance

K = TypeVar("K", bound=type[StepKind[Any, Any]])


def register_kind(cls: K) -> K:
    """Class decorator: make ``cls`` a step kind of every study, under ``cls.name``."""
    if cls.name in _KINDS:
        warnings.warn(f"step kind {cls.name!r} registered twice", stacklevel=2)
    _KINDS[cls.name] = cls()
    return cls


def step_kind(name: str) -> StepKind[Any, Any]:
    """The registered kind called ``name``; :class:`KeyError` listing the known ones."""
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown step kind {name!r}; known: {', '.join(list_kinds())}") from None


def list_kinds() -> list[str]:
    """Names of the registered kinds, in stage order."""
    return [k.name for k in sorted(_KINDS.values(), key=lambda k: k.stage)]

