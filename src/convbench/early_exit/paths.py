"""Where an early-exit network's saving goes: each path and each part timed alone, and the gap to the ideal split up.

The analytic ideal (:func:`~convbench.early_exit.measurement.ideal_saving`) prices the network by MACs: with s the
stem's and h the exit head's share of the backbone's MACs, an image that exits costs s + h, one that continues 1 + h,
so at redundancy r the saving is ``r·(1 − s) − h``. A deployed file falls short of it for reasons each of which
is one timing away:

- the parts do not take their MAC share of the time: the stem (full-resolution convolutions: memory-bound, and
  its first layer has one input channel) and the exit head (fully connected layers: weight reads, not MACs);
- cutting the backbone in two costs something: the stem and the rest run as two graphs (two delegate
  partitions, the features written out and read back; in the chained form a second interpreter invoke);
- each path pays for what the deployed form adds around the parts ("the form's own work"): in the single file
  the ``IF`` op and its glue (P(redundant) and the threshold sliced out, the comparison, the branch dispatch,
  the output joined, and a copy of the features into whichever branch runs: the ``IF`` kernel copies its
  operands into the active branch's inputs, so the empty exit branch receives them too); in the chained form
  the Python decision and the second ``invoke`` call, and the copy of the features from one interpreter to
  the other (its own row).

With B the backbone's time and E, C the exit and continue paths' times, the saving the paths give at a share f
of exiting images is ``1 − (f·E + (1 − f)·C) / B``; the gap between it and the ideal at r is exactly the sum of
the rows of :meth:`SavingAnalysis.missing` (an identity, not a fit): ``(r − f)(1 − s)`` for exits that do not
match the redundancy, ``f·(s_t − s)``, ``h_t − h``, ``(1 − f)·k`` for the cut (``k = s_t + rest_t − 1``),
``f·o_E`` and ``(1 − f)·o_C`` for each path's time beyond its parts (``o = path/B − s_t − h_t [− rest_t]``; the
chained form's second call and copy shown on rows of their own), all as shares of B's *time*. Every part timed
alone pays one interpreter call, which a deployed path does not pay per part: the call's fixed cost (timed on a
one-op model) stays in the stem's share ``s_t`` (every image pays one call) and is taken out of the exit head's
``h_t`` and the rest's ``rest_t`` (they run inside a call already paid, or, chained, in a second call that is a
row of its own).

Everything is timed at batch 1 by :class:`~convbench.bench.timer.Timer`, in interleaved rounds (each round times
every item once, in a fresh shuffled order, as :func:`~convbench.bench.harness.bench_interleaved` does) so that
drift of the machine hits every item alike; each item's Measurement pools its rounds as replicates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard
from convbench.bench.measurement import Measurement
from convbench.bench.rounds import interleave
from convbench.bench.timer import Timer, validate_protocol
from convbench.checks import integer_in
from convbench.early_exit.measurement import ideal_saving
from convbench.errors import ConfigError, DataError, ModelError
from convbench.runtime.base import Runner
from convbench.runtime.early_exit import ChainedEarlyExitRunner, EarlyExitRunner

PARTS = ("stem", "exit_head", "rest", "backbone", "call")  # the part files of export.early_exit.export_parts
PATHS = ("exit_path", "continue_path")
COPY = "copy"  # the chained form's copy of the features between its interpreters
SECOND_CALL = frozenset({"chained"})  # forms whose continue path makes a second interpreter call


@dataclass(frozen=True)
class PartRunners:
    """Loaded runners of the part files (:func:`~convbench.export.early_exit.export_parts`)."""

    stem: Runner
    exit_head: Runner
    rest: Runner
    backbone: Runner
    call: Runner


@dataclass(frozen=True)
class PathImages:
    """One ``(1, H, W, C)`` image for each path, and whether it takes that path by itself at the runner's threshold
    (else the path is forced: the work is the same, the image is only not a real example of the path)."""

    exit: np.ndarray
    continue_: np.ndarray
    exit_natural: bool
    continue_natural: bool


def path_images(runner: EarlyExitRunner, images: np.ndarray) -> PathImages:
    """The first of ``images`` (float32 ``(N, H, W, C)``, preprocessed) that exits and the first that continues
    at ``runner``'s threshold; where none does, the first image (its path then forced when timed)."""
    if len(images) == 0:
        raise ConfigError("path_images needs at least one image")
    found: dict[bool, np.ndarray] = {}
    for image in images[:, None]:
        runner.set_input(image)
        runner.invoke()
        found.setdefault(runner.exited, image)
        if len(found) == 2:
            break
    first = images[:1]
    return PathImages(found.get(True, first), found.get(False, first), True in found, False in found)


@dataclass(frozen=True)
class MissingShare:
    """One reason the deployed saving falls short of the ideal, as a share of the backbone's time."""

    cause: str
    share: float


@dataclass(frozen=True)
class SavingAnalysis:
    """The ideal saving at ``redundancy``, what the timed paths give, and where the difference goes.

    Attributes:
        form: the deployed form (``single``, ``chained``).
        redundancy: r, the share of redundant images the ideal is priced at.
        exit_fraction: f, the share of images that exit (r when the exit is perfect).
        stem_share, exit_share: s and h, by MACs.
        ideal: ``r·(1 − s) − h``.
        from_paths: ``1 − (f·E + (1 − f)·C) / B`` from the path medians.
        measured: the saving measured otherwise (per image on a test mix, each model running the stream by
            itself: :func:`~convbench.early_exit.measurement.time_mix`), when given.
        missing: the rows that add up to ``ideal − from_paths`` (and to ``ideal − measured`` with the last row,
            when ``measured`` is given).
        shares: the parts' and overheads' times as shares of the backbone's (``stem``, ``exit_head``, ``rest``,
            ``cut``, ``exit_overhead``, ``continue_overhead``, ``copy``).
    """

    form: str
    redundancy: float
    exit_fraction: float
    stem_share: float
    exit_share: float
    ideal: float
    from_paths: float
    measured: float | None
    missing: list[MissingShare]
    shares: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """The deployed saving (measured when given, else from the paths) over the ideal."""
        saving = self.measured if self.measured is not None else self.from_paths
        return saving / self.ideal if self.ideal > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"form": self.form, "redundancy": self.redundancy, "exit_fraction": self.exit_fraction,
                "stem_share": self.stem_share, "exit_share": self.exit_share, "ideal": self.ideal,
                "from_paths": self.from_paths, "measured": self.measured, "ratio": self.ratio, "shares": self.shares,
                "missing": [{"cause": m.cause, "share": m.share} for m in self.missing]}


@dataclass(frozen=True)
class PathBreakdown:
    """Measurements of every part and of each deployed form's paths, from one interleaved run.

    Attributes:
        parts: ``stem``, ``exit_head``, ``rest``, ``backbone`` → Measurement.
        forms: form → {``exit_path``, ``continue_path`` (and ``copy`` for the chained form)} → Measurement.
        stem_share, exit_share: s and h by MACs (from the cards).
        images: whether each path's image took it by itself (``exit_natural``, ``continue_natural``).
        protocol: the run's calls and seconds (divided among the rounds), the rounds' shuffled orders, the
            machine's load.
    """

    parts: dict[str, Measurement]
    forms: dict[str, dict[str, Measurement]]
    stem_share: float
    exit_share: float
    images: dict[str, bool]
    protocol: dict[str, Any]

    def analyse(self, form: str, redundancy: float, *, exit_fraction: float | None = None,
                measured: float | None = None) -> SavingAnalysis:
        """Split ``ideal(redundancy) − saving`` of ``form`` into its causes (module docstring).

        Args:
            form: a form timed in this breakdown.
            redundancy: r in [0, 1].
            exit_fraction: f, the share of images that exit (default r).
            measured: a saving measured otherwise (per image on a test mix, each model on its own stream:
                :func:`~convbench.early_exit.measurement.time_mix`); adds the row that takes the paths' figure to it
                (distinct images one call each, against one image called over and over).
        """
        if form not in self.forms:
            raise ConfigError(f"form {form!r} was not timed; timed: {', '.join(self.forms)}")
        for name, value in (("redundancy", redundancy), ("exit_fraction", exit_fraction)):
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {name}={value!r}")
        r = float(redundancy)
        f = r if exit_fraction is None else float(exit_fraction)
        s, h = self.stem_share, self.exit_share
        backbone = self.parts["backbone"].median
        call = self.parts["call"].median / backbone  # one interpreter call: every part timed alone pays one
        t = {"stem": self.parts["stem"].median / backbone,  # with the one call every image pays
             "exit_head": self.parts["exit_head"].median / backbone - call,  # net: it runs in the stem's call
             "rest": self.parts["rest"].median / backbone - call}  # net: a second call is a row of its own
        paths = {name: m.median / backbone for name, m in self.forms[form].items()}
        second_call = call if form in SECOND_CALL else 0.0
        copy = paths.get(COPY, 0.0)
        exit_overhead = paths["exit_path"] - t["stem"] - t["exit_head"]
        continue_overhead = paths["continue_path"] - t["stem"] - t["exit_head"] - t["rest"]
        cut = t["stem"] + t["rest"] - 1
        from_paths = 1 - (f * paths["exit_path"] + (1 - f) * paths["continue_path"])
        missing = [MissingShare("images exiting (f) ≠ redundancy (r): (r − f)·(1 − s)", (r - f) * (1 - s)),
                   MissingShare("stem (and the one call every image pays) slower than its MAC share: f·(s_t − s)",
                                f * (t["stem"] - s)),
                   MissingShare("exit head slower than its MAC share: h_t − h", t["exit_head"] - h),
                   MissingShare("backbone cut in two (two graphs, features written and read): (1 − f)·k",
                                (1 - f) * cut),
                   MissingShare("exit path beyond stem + head (the form's own work): f·o_E", f * exit_overhead),
                   MissingShare("continue path beyond its parts (the form's own work): (1 − f)·o_C",
                                (1 - f) * (continue_overhead - second_call - copy)),
                   MissingShare("a second interpreter call (chained): (1 − f)·call", (1 - f) * second_call),
                   MissingShare("copy of the features between the chained interpreters: (1 − f)·copy",
                                (1 - f) * copy)]
        if measured is not None:
            missing.append(MissingShare("the mix (a stream of distinct images, one call each) vs the paths (one "
                                        "image called over and over)", from_paths - measured))
        shares = {**t, "call": call, "cut": cut, "exit_overhead": exit_overhead,
                  "continue_overhead": continue_overhead, "copy": copy}
        return SavingAnalysis(form, r, f, s, h, ideal_saving(r, s, h), from_paths, measured, missing, shares)

    def to_dict(self, samples: bool = True) -> dict[str, Any]:
        """JSON-ready: every Measurement (with its raw samples unless ``samples`` is false: a one-op part timed for
        seconds holds millions of them, so a benchmark's results file keeps the statistics and round medians
        only), the shares, the images and the protocol."""
        def measurement(m: Measurement) -> dict[str, Any]:
            d = m.to_dict()
            return d if samples else {k: v for k, v in d.items() if k != "times_s"}

        return {"parts": {k: measurement(m) for k, m in self.parts.items()},
                "forms": {form: {k: measurement(m) for k, m in items.items()} for form, items in self.forms.items()},
                "stem_share": self.stem_share, "exit_share": self.exit_share, "images": self.images,
                "protocol": self.protocol}


@dataclass(frozen=True)
class _Item:
    """One thing to time: ``fn`` after ``setup``, within ``context`` (a forced path)."""

    key: tuple[str, str]  # (form or "parts", name)
    fn: Callable[[], Any]
    setup: Callable[[], Any]
    context: Callable[[], contextlib.AbstractContextManager[Any]]
    label: str


def time_breakdown(forms: Sequence[EarlyExitRunner], parts: PartRunners, images: PathImages, *, rounds: int = 5,
                   runs: int = 200, min_seconds: float = 1.0, warmup: int = 10, warmup_seconds: float = 0.1,
                   seed: int = 0) -> PathBreakdown:
    """Time each form's exit and continue paths (and the chained form's copy) and each part alone, interleaved.

    Args:
        forms: loaded early-exit runners (one per deployed form: single, chained), of the same model as ``parts``.
        parts: loaded runners of the part files.
        images: the image each path is timed on (:func:`path_images`); the exit head and the rest are fed the
            stem's features of the continue image.
        rounds: interleaved rounds, in the one loop of :func:`convbench.bench.rounds.interleave`: each item runs
            ``runs / rounds`` calls and ``min_seconds / rounds`` seconds at least per round, after ``warmup`` calls
            and ``warmup_seconds`` in the first round and its share of ``warmup_seconds`` in a later one.
        seed: seeds the shuffled orders.

    Raises:
        ConfigError: an impossible protocol, no forms, two runners of one form, or ``rounds`` < 1.
    """
    validate_protocol(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)
    integer_in("rounds", rounds, 1)
    names = [runner.form for runner in forms]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"time_breakdown needs one runner per deployed form, got forms {names!r}")
    items = _items(forms, parts, images)
    protocol = dict(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds)

    def time_one(i: int, round_protocol: dict[str, Any]) -> Measurement:
        item = items[i]
        with item.context():
            return Timer(item.fn, setup=item.setup, label=item.label, sub_label=item.key[0],
                         description=item.key[1]).run(**round_protocol)

    run = interleave(len(items), time_one, protocol, rounds=rounds, seed=seed)
    timed = {item.key: run.timed[i] for i, item in enumerate(items)}
    merged = {key: Measurement.merge(ms)[0] if len(ms) > 1 else ms[0] for key, ms in timed.items()}
    stem_card = forms[0].card.early_exit
    recorded = {**protocol, **run.protocol_record(seed), "rounds": rounds, "round_orders": run.orders, "seed": seed,
                "items": [list(item.key) for item in items], "threads": forms[0].threads, "batch_size": 1}
    return PathBreakdown({name: merged["parts", name] for name in PARTS},
                         {form: {name: m for (f, name), m in merged.items() if f == form} for form in names},
                         stem_card.stem_share, stem_card.exit_share,
                         {"exit_natural": images.exit_natural, "continue_natural": images.continue_natural},
                         recorded)


def _items(forms: Sequence[EarlyExitRunner], parts: PartRunners, images: PathImages) -> list[_Item]:
    parts.stem.set_input(images.continue_)
    parts.stem.invoke()
    features = parts.stem.get_output()  # (1, h, w, c): what the exit head and the rest are fed
    inputs = {"stem": images.continue_, "exit_head": features, "rest": features, "backbone": images.continue_,
              "call": np.ones((1, 1, 1, 1), np.float32)}
    items = [_Item(("parts", name), runner.invoke, _setter(runner, inputs[name]), contextlib.nullcontext,
                   runner.path.name) for name in PARTS for runner in (getattr(parts, name),)]
    for runner in forms:
        for path, image, forced in (("exit_path", images.exit, "exit"), ("continue_path", images.continue_, "full")):
            items.append(_Item((runner.form, path), runner.invoke, _setter(runner, image),
                               _forced(runner, forced), runner.path.name))
        if isinstance(runner, ChainedEarlyExitRunner):
            items.append(_Item((runner.form, COPY), runner.pass_features, _setter(runner, images.continue_, True),
                               contextlib.nullcontext, runner.path.name))
    return items


def _setter(runner: Runner, x: np.ndarray, invoke: bool = False) -> Callable[[], None]:
    def setup() -> None:
        runner.set_input(x)
        if invoke:  # the copy is timed on real features: the stem has run once
            runner.invoke()

    return setup


def _forced(runner: EarlyExitRunner, path: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    return lambda: runner.forced_path(path)


def breakdown_for_files(files: Sequence[str | os.PathLike[str]], images: np.ndarray, *, threads: int = 1,
                        parts_dir: str | os.PathLike[str] | None = None, **protocol: Any) -> PathBreakdown:
    """Open deployed early-exit files (single file and/or chained stem, of one model), export their parts from the
    ``.keras`` model their cards name, pick an image for each path from ``images`` and time the breakdown.

    Args:
        files: the deployed files (one per form).
        images: preprocessed float32 ``(N, H, W, C)`` candidates for the two paths (real test images).
        threads: LiteRT threads of every runner.
        parts_dir: where the part files go (default: a temporary folder, removed afterwards).
        **protocol: as :func:`time_breakdown` (rounds, runs, min_seconds, warmup, warmup_seconds, seed).

    Raises:
        ModelError: a file that is not a deployed early-exit file, files of different models, or a source model
            that is gone or changed since the export.
    """
    from convbench.export.early_exit import export_parts  # conversion needs TensorFlow: only here
    from convbench.io import sha256_file
    from convbench.runtime import open_runner
    from convbench.runtime.early_exit import open_early_exit_runner

    runners = [open_early_exit_runner(f, threads=threads) for f in files]
    sources = {(r.card.source.path if r.card.source else None) for r in runners}
    source = next(iter(sources))
    if len(sources) != 1 or source is None:
        raise ModelError(f"{', '.join(map(str, files))}: the cards name no single source .keras model "
                         f"({sorted(map(str, sources))}); export them again with this version of convbench")
    expected = runners[0].card.early_exit.source_sha256
    if not Path(source).is_file() or (expected and sha256_file(source) != expected):
        raise ModelError(f"{source}: the .keras model the files were exported from is gone or changed since; "
                         "the parts must come from the same weights")
    with _folder(parts_dir) as out:
        exported = export_parts(source, out)
        parts = PartRunners(*(open_runner(getattr(exported, name), threads=threads) for name in PARTS))
        for runner in (*runners, *vars(parts).values()):
            runner.load()
        return time_breakdown(runners, parts, path_images(runners[0], images), **protocol)


def candidate_images(card: ModelCard, data: str | None = None, count: int = 200, seed: int = 0) -> np.ndarray:
    """Preprocessed images to pick each path's image from: a stratified, seeded subset of ``count`` test images (else
    training images) of ``data``, else of the data the card names (an early-exit card names its main + redundant
    mix, so both paths are represented).

    Raises:
        DataError: no data given and none named by the card, or data that cannot be loaded.
    """
    from convbench.data import load
    from convbench.data.mix import subset

    spec = data or card.data
    if not spec:
        raise DataError("no images to time the paths on: the model card names no data; give --data SPEC")
    dataset = load(spec)
    part = dataset.test if dataset.test is not None and len(dataset.test) else dataset.train
    return card.preprocessing(subset(part, count, seed).images)


@contextlib.contextmanager
def _folder(path: str | os.PathLike[str] | None) -> Iterator[Path]:
    if path is not None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="convbench-parts-") as tmp:
        yield Path(tmp)
