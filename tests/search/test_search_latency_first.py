"""Latency first, cheap first: the cheap seeds run before the sampler's own trials, cheapest first and inside the
space; a trial whose untrained export is clearly slower than a feasible trial (or over ``max_latency``) is pruned
before any training, with its reason; a resumed search enqueues no seed again."""

from __future__ import annotations

from pathlib import Path

import pytest
from search.searchkit import write_space

from convbench.models import build, total_macs
from convbench.search import Deployment, default_space, load_space, search
from convbench.search.seeds import cheap_seeds
from convbench.search.trial import SCREEN_DIR

# A tiny stagenet at 16 px, and a full-width MobileNetV1 at 32 px: its seed's MACs (and latency) are far above the
# stagenet's, so the seeds run stagenet first and, once it meets the low floor, the MobileNetV1 is screened out.
SMALL_THEN_BIG = """
input_sizes = [16, 32]
quantize = ["none"]

[architectures.stagenet]
width = [0.5, 1.0]
options = { stage_channels = [[8, 16]], depths = [1], stem_channels = [8] }

[architectures.mobilenet_v1]
width = [1.0, 1.0]
"""


def test_the_seeds_are_each_architectures_smallest_point_cheapest_first():
    space = default_space()
    seeds = cheap_seeds(space, Deployment(), list(space.quantize), image_channels=3, num_classes=2)
    assert sorted(s.arch for s in seeds) == sorted(space.architectures)
    macs = []
    for s in seeds:
        arch_space = space.architectures[s.arch]
        assert s.width == round(arch_space.width[0], 4)
        assert s.input_size == min(space.input_sizes_for(s.arch))
        assert s.options == {name: values[0] for name, values in arch_space.options.items()}
        assert (s.quantize, s.threads) == (space.quantize[0], 1)
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in s.options.items()}
        macs.append(total_macs(build(s.arch, (s.input_size, s.input_size, 3), 2, s.width, **options)))
    assert macs == sorted(macs)


def test_seeds_lie_inside_a_users_space(tmp_path: Path):
    space = load_space(write_space(tmp_path, "input_sizes = [48, 64]\nquantize = ['float16', 'none']\nthreads = [2]\n"
                                             "[architectures.mobilenet_v2]\nwidth = [0.3, 0.5]\n"))
    (seed,) = cheap_seeds(space, Deployment(), list(space.quantize), image_channels=3, num_classes=2)
    assert (seed.arch, seed.width, seed.input_size, seed.quantize, seed.threads) == (
        "mobilenet_v2", 0.3, 48, "float16", 2)


@pytest.mark.slow
def test_a_slower_trial_is_pruned_before_training_and_a_resume_enqueues_no_seed_again(tmp_path: Path):
    out, space = tmp_path / "search", write_space(tmp_path, SMALL_THEN_BIG)
    # floor 0.05: two epochs of the tiny net on 10 classes are well above chance, so trial #0 meets it
    result = search("digits", floor=0.05, out=out, budget="10m", max_trials=2, epochs=2, batch_size=16, space=space,
                    progress=False)
    small, big = result.trials
    assert (small.params.arch, big.params.arch) == ("stagenet", "mobilenet_v1")
    assert small.seeded and big.seeded
    assert small.feasible(0.05) and small.screen_latency is None  # nothing to prune against yet: not screened
    assert big.pruned_before_training and big.epochs_run == 0 and big.val_accuracy is None
    assert big.screen_latency is not None and big.screen_latency.ci95_low_ms > small.latency.median_ms
    assert big.prune_reason.startswith("slower than trial #0, which meets the floor")
    assert not (out / big.folder / "model.keras").exists()  # never trained: only its screen was written
    assert (out / big.folder / SCREEN_DIR / "model.keras").is_file()
    assert result.pruned_before_training == 1 and result.recommendation == 0

    resumed = search("digits", floor=0.05, out=out, budget="10m", max_trials=3, epochs=2, batch_size=16,
                     space=space, resume=True, progress=False)
    assert len(resumed.trials) == 3
    assert resumed.trials[:2] == result.trials  # kept as they were, never re-run
    assert [t.seeded for t in resumed.trials] == [True, True, False]  # the sampler's own: no seed enqueued again


@pytest.mark.slow
def test_a_trial_over_max_latency_is_pruned_before_training(tmp_path: Path):
    result = search("digits", floor=0.05, out=tmp_path / "search", budget="10m", max_trials=1, epochs=1,
                    space=write_space(tmp_path, SMALL_THEN_BIG), max_latency=1e-6, progress=False)
    (only,) = result.trials
    assert only.pruned_before_training and only.params.arch == "stagenet"
    assert only.prune_reason.startswith("over the latency cap of 1e-06 ms")
    assert result.recommendation is None and result.settings.max_latency_ms == 1e-6
