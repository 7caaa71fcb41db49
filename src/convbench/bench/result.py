"""BenchResult: every phase's Measurement of one model × runtime × threads, with all the context to trust it."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)

from convbench.bench.machine_load import MACHINE_KEY, MachineLoad
from convbench.bench.measurement import Measurement
from convbench.errors import DataError
from convbench.io import read_json, write_json

SCHEMA = "convbench.bench_result/1"
PHASES = ("load", "first_inference", "preprocess", "inference")  # in the order they are reported


@dataclass
class BenchResult:
    """The outcome of :func:`convbench.bench.bench`.

    Attributes:
        model: path, name, size_bytes, sha256, format, arch, width, quantize, params, macs, accuracy,
            input_shape ``[H, W, C]``, metrics (the card's quality figures).
        runtime: name, version, threads, delegate.
        protocol: runs, min_seconds, warmup, warmup_seconds, load_repeats, batch_size (always 1), clock.
        image: the file whose preprocessing was timed, and where it came from.
        phases: one :class:`Measurement` per phase in :data:`PHASES` (times in seconds).
        environment: :func:`convbench.env.environment` at measurement time.
        memory: peak resident memory of a fresh process running the model (:mod:`convbench.bench.memory`),
            when asked for: ``baseline_bytes``, ``peak_bytes``, ``model_bytes``, ``runs``.
    """

    model: dict[str, Any]
    runtime: dict[str, Any]
    protocol: dict[str, Any]
    image: dict[str, Any]
    phases: dict[str, Measurement]
    environment: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] | None = None

    @property
    def inference(self) -> Measurement:
        """Steady-state inference: the figure latency comparisons use."""
        return self.phases["inference"]

    @property
    def machine_load(self) -> MachineLoad | None:
        """How busy the machine was while the steady-state rounds ran (``None`` in results from before it was
        recorded, and from targets that do not record it)."""
        machine = self.protocol.get(MACHINE_KEY)
        return MachineLoad.from_dict(machine) if machine else None

    @property
    def label(self) -> str:
        """``arch quantize runtime tN``, e.g. ``mobilenet_v2 int8 litert t1``."""
        arch = self.model.get("arch") or Path(self.model["path"]).stem
        return f"{arch} {self.model.get('quantize', 'none')} {self.runtime['name']} t{self.runtime['threads']}"

    @property
    def attained_gflops(self) -> float | None:
        """2·MACs / median inference time, in GFLOP/s (None when MACs are unknown)."""
        macs = self.model.get("macs")
        return 2.0 * macs / self.inference.median / 1e9 if macs else None

    def figures_ms(self) -> dict[str, Any]:
        """The measured figures as every results table shows them, times in milliseconds: inference's median with
        its 95 % CI, p90, p99, IQR and sample count, whether it was unstable, the other phases' medians, and the
        attained GFLOP/s. The one row builder of ``compare`` and the study report."""
        m, ms = self.inference, 1e3
        return {"median_ms": m.median * ms, "ci95_low_ms": m.ci95.low * ms, "ci95_high_ms": m.ci95.high * ms,
                "p90_ms": m.p90 * ms, "p99_ms": m.p99 * ms, "iqr_ms": m.iqr * ms, "n": m.n, "unstable": m.unstable,
                **{f"{phase}_ms": self.phases[phase].median * ms for phase in PHASES if phase != "inference"},
                "attained_gflops": self.attained_gflops}

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "model": self.model, "runtime": self.runtime, "protocol": self.protocol,
                "image": self.image, "attained_gflops": self.attained_gflops,
                "phases": {name: m.to_dict() for name, m in self.phases.items()}, "environment": self.environment,
                **({"memory": self.memory} if self.memory is not None else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchResult:
        return cls(d["model"], d["runtime"], d["protocol"], d["image"],
                   {name: Measurement.from_dict(m) for name, m in d["phases"].items()}, d.get("environment", {}),
                   d.get("memory"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as JSON, atomically (no partial file on failure)."""
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchResult:
        """Read a result written by :meth:`save`; :class:`DataError` naming the file when it is not one."""
        try:
            d = read_json(path)
        except FileNotFoundError:
            raise DataError(f"bench result not found: {path}") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a JSON bench result ({e})") from None
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            found = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise DataError(f"{path}: not a bench result (expected schema {SCHEMA!r}, found {found!r})")
        try:
            _ResultFile.model_validate(d)
        except ValidationError as e:
            raise DataError(f"{path}: malformed bench result: {_first_error(e)}") from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{path}: malformed bench result ({type(e).__name__}: {e})") from None


# -- the file's schema: what compare, reports and the study read from a result, checked when a file is loaded ------
def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


_Seconds = Annotated[float, Field(ge=0), AfterValidator(_finite)]  # a time per call: finite, never negative


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = ""
    sub_label: str = ""
    description: str = ""
    num_threads: PositiveInt = 1
    env: str | None = None


class _Phase(_Open):
    spec: _Spec
    unit: Literal["s"] = "s"
    times_s: list[_Seconds] = Field(min_length=1)
    number_per_run: PositiveInt = 1
    metadata: dict[str, Any] = {}


class _Model(_Open):
    path: str
    size_bytes: NonNegativeInt
    sha256: str | None = None
    arch: str | None = None
    quantize: str | None = None
    params: NonNegativeInt | None = None
    macs: NonNegativeInt | None = None
    accuracy: Annotated[float, Field(ge=0, le=1)] | None = None


class _Runtime(_Open):
    name: str
    threads: PositiveInt


class _ResultFile(_Open):
    model: _Model
    runtime: _Runtime
    protocol: dict[str, Any]
    image: dict[str, Any]
    phases: dict[str, _Phase]
    environment: dict[str, Any] = {}
    memory: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _has_every_phase(self) -> _ResultFile:
        missing = [phase for phase in PHASES if phase not in self.phases]  # every table row reads each phase
        if missing:
            raise ValueError(f"phases.{missing[0]} is missing")
        return self


def _first_error(e: ValidationError) -> str:
    """The first problem as ``field.path: message`` (one line, naming the field)."""
    first = e.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a check of the whole file names its field itself
        return message
    return f"{'.'.join(str(part) for part in first['loc'])}: {message} (got {first.get('input')!r:.60})"
