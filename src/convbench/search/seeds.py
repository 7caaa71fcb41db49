"""Cheap seed trials: the smallest point of each architecture in the space, run before the sampler's own.

Why. The latency screen (:func:`convbench.search.trial.screen`) can prune a trial before training only once some
trial meets the floor; until then every candidate trains in full. Left to itself, TPE's first trials are random
points of the space, and on a CPU a random point of a wide space is often a big one (VGG-19 at 128 px, α 1.5):
the 40-minute Fruits-360 search spent most of its budget training such trials. So the search first enqueues, for
each architecture in the space, its smallest point: the lowest width, the smallest input size its downsampling
allows, and every other dimension (options, export mode, threads) at its first value, as the space lists them.
They run cheapest first (by multiply-accumulates of the built model), so a feasible cheap model exists early and
the screen prunes the big ones against it.

The seeds come from the space (hence from the registry, or a user's space file): no architecture is named here,
and every seed lies inside the space, so the sampler learns from them like from its own trials.
"""

from __future__ import annotations

from convbench.errors import ModelError
from convbench.models import build, total_macs
from convbench.search.records import Deployment, TrialParams
from convbench.search.space import SearchSpace


def cheap_seeds(space: SearchSpace, target: Deployment, quantize_modes: list[str], image_channels: int,
                num_classes: int) -> list[TrialParams]:
    """Each architecture's smallest point in ``space``, cheapest first (by MACs at its input size).

    Args:
        space: the (checked) search space.
        target: the target; its thread count is the seeds' unless the space lists thread counts.
        quantize_modes: the export modes the target can run, in the space's order (the first is the seeds').
        image_channels, num_classes: of the data, to build each seed and count its MACs.

    Returns:
        One :class:`TrialParams` per architecture whose smallest point builds (one the builder rejects would only
        be an infeasible trial), ordered by MACs ascending.
    """
    seeds: list[tuple[int, TrialParams]] = []
    for arch, arch_space in sorted(space.architectures.items()):
        sizes = space.input_sizes_for(arch)
        if not sizes:
            continue
        params = TrialParams(arch=arch, width=round(arch_space.width[0], 4), input_size=min(sizes),
                             options={name: values[0] for name, values in sorted(arch_space.options.items())},
                             quantize=quantize_modes[0], threads=(space.threads or (target.threads,))[0])
        try:
            model = build(arch, (params.input_size, params.input_size, image_channels), num_classes, params.width,
                          **{k: tuple(v) if isinstance(v, list) else v for k, v in params.options.items()})
        except ModelError:
            continue
        seeds.append((total_macs(model), params))
    return [params for _, params in sorted(seeds, key=lambda s: s[0])]
