"""What every remote target does on this machine first: read each model's card, make its real preprocessed
input, time that preprocessing here, and afterwards turn the target's raw records into :class:`BenchResult`\\ s.

Preprocessing (decode, resize, normalise an image file) needs convbench's data layer and Pillow, which a board or
phone need not have, so it is timed on this machine and its Measurement says so (``measured_on``); load, first
inference and steady-state inference are timed on the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard
from convbench.bench.harness import BATCH_SIZE, BenchCase, _check_input, _model_facts  # as a local result has
from convbench.bench.measurement import Measurement
from convbench.bench.result import BenchResult
from convbench.bench.sample_image import sample_image
from convbench.bench.targets.base import Protocol, TargetEnvironment
from convbench.bench.timer import CLOCK_NAME, Timer, validate_protocol
from convbench.checks import integer_in
from convbench.env import environment
from convbench.errors import ConfigError, ModelError
from convbench.runtime import open_runner


@dataclass
class StagedModel:
    """One configuration ready to send: its file, card, runtime, the preprocessed input and its preprocessing time.

    Attributes:
        config: what to time.
        path: the model file here.
        card: its model card.
        runtime: the runtime name (resolved from the suffix when the config left it open).
        x: the real preprocessed input, float32 ``(1, H, W, C)``.
        image: the image file it came from (as :func:`~convbench.bench.bench` records it).
        preprocess: the preprocessing Measurement, taken on this machine.
        label, sub_label: how its Measurements are named (as the local harness names them).
    """

    config: BenchCase
    path: Path
    card: ModelCard
    runtime: str
    x: np.ndarray
    image: dict[str, Any]
    preprocess: Measurement
    label: str
    sub_label: str


def check_protocol(configs: list[BenchCase], protocol: Protocol) -> None:
    """The local harness's checks, before anything is copied anywhere."""
    validate_protocol(runs=protocol.runs, min_seconds=protocol.min_seconds, warmup=protocol.warmup,
                      warmup_seconds=protocol.warmup_seconds)
    if not configs:
        raise ConfigError("bench needs at least one model file")
    integer_in("rounds", protocol.rounds, 1)
    integer_in("load_repeats", protocol.load_repeats, 1)
    for config in configs:
        if not Path(config.model).is_file():
            raise ModelError(f"model file not found: {config.model}")


def stage(config: BenchCase, protocol: Protocol, workdir: Path) -> StagedModel:
    """Card, runtime, real input and preprocessing time of one configuration (nothing is loaded here)."""
    path = Path(config.model)
    runner = open_runner(path, runtime=config.runtime, threads=config.threads)  # validates runtime, card, threads
    card: ModelCard = runner.card
    workdir.mkdir(parents=True, exist_ok=True)
    sample = sample_image(card, workdir, image=protocol.image, data=protocol.data)
    x = card.preprocessing.load_image(sample.path).astype(np.float32)
    _check_input(path, card, x)
    label, sub_label = card.arch or path.stem, f"{runner.name} t{config.threads}"
    timing = dict(runs=protocol.runs, min_seconds=protocol.min_seconds, warmup=protocol.warmup,
                  warmup_seconds=protocol.warmup_seconds)
    preprocess = Timer(lambda: card.preprocessing.load_image(sample.path), label=label, sub_label=sub_label,
                       description="preprocess", num_threads=config.threads).run(**timing)
    preprocess.metadata["measured_on"] = "this machine (the controller): the target needs no image decoder"
    return StagedModel(config, path, card, runner.name, x, sample.to_dict() | {"shape": list(x.shape)}, preprocess,
                       label, sub_label)


def base_protocol(protocol: Protocol) -> dict[str, Any]:
    """The protocol record every result carries (the keys :func:`~convbench.bench.bench_interleaved` writes)."""
    return {"runs": protocol.runs, "min_seconds": protocol.min_seconds, "warmup": protocol.warmup,
            "warmup_seconds": protocol.warmup_seconds, "load_repeats": protocol.load_repeats,
            "batch_size": BATCH_SIZE, "clock": CLOCK_NAME}


def make_result(staged: StagedModel, phases: dict[str, Measurement], *, runtime_version: str, delegate: str,
                protocol: dict[str, Any], target_env: TargetEnvironment,
                memory: dict[str, Any] | None = None) -> BenchResult:
    """The one result format, with the target and its environment recorded in ``environment``.

    ``environment`` describes the target (cpu, cores, os … are the target's, as reports read them); what ran the
    controller is kept under ``controller``.
    """
    controller = environment()
    env = {**target_env.to_dict(), "timestamp": controller["timestamp"], "git_commit": controller.get("git_commit"),
           "controller": controller}
    return BenchResult(
        model=_model_facts(staged.path, staged.card),
        runtime={"name": staged.runtime, "version": runtime_version, "threads": staged.config.threads,
                 "delegate": delegate},
        protocol=protocol, image=staged.image,
        phases={"load": phases["load"], "first_inference": phases["first_inference"],
                "preprocess": staged.preprocess, "inference": phases["inference"]},
        environment=env, memory=memory)
