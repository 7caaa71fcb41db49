"""The one interleaving loop: several configurations timed in rounds, each round in a fresh shuffled order.

Drift of the machine (frequency, the hypervisor, another process) then hits every configuration alike instead of
whichever ran last, and each configuration's rounds are the independent units a verdict pairs
(:mod:`convbench.bench.verdict`). The local harness and the remote agent both run this loop (the agent is shipped
this very file, see ``convbench.bench.targets.ssh.AGENT_ROOTS``), so a board's rounds are ordered and warmed up
exactly as this machine's. Standard library, numpy and :mod:`convbench.bench.machine_load` /
:mod:`convbench.bench.measurement` only: a board needs nothing else.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from convbench.bench.machine_load import MACHINE_KEY, MachineLoad, watch_machine
from convbench.bench.measurement import Measurement

INTERLEAVING_KEY = "interleaving"  # Measurement metadata: the id of the interleaved run that timed it


@dataclass
class Interleaved:
    """What :func:`interleave` timed: per configuration its rounds' Measurements (in round order), each round's
    order, the run's id and how busy the machine was."""

    timed: list[list[Measurement]]
    orders: list[list[int]]
    run_id: str
    machine: MachineLoad

    def pooled(self, index: int) -> Measurement:
        """Configuration ``index``'s rounds pooled into one Measurement (its ``replicate_medians`` in round order),
        tagged with the run's id and machine load so that a verdict can pair it with the others round by round."""
        rounds = self.timed[index]
        inference = Measurement.merge(rounds)[0] if len(rounds) > 1 else rounds[0]
        inference.metadata.update({INTERLEAVING_KEY: self.run_id, MACHINE_KEY: self.machine.to_dict()})
        return inference

    def protocol_record(self, seed: int) -> dict[str, Any]:
        """What a result's protocol records of the rounds: their number, orders and seed, and the machine load."""
        rounds = {"rounds": len(self.orders), "round_orders": self.orders, "seed": seed} if len(self.orders) > 1 else {}
        return {**rounds, "load_average_1min": list(self.machine.load_average_1min),
                MACHINE_KEY: self.machine.to_dict()}


def round_orders(count: int, rounds: int, seed: int) -> Iterator[list[int]]:
    """Each round's order of configurations ``0 … count-1``: a fresh seeded shuffle per round (the order given
    when there is one round). :func:`interleave` and the early-exit stream timing, whose rounds are chunks of a
    stream, both take their orders from here."""
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        yield [int(i) for i in rng.permutation(count)] if rounds > 1 else list(range(count))


def round_protocols(protocol: dict[str, Any], rounds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The timing protocol of the first round and of every later one, from the whole run's.

    Each round runs ``runs / rounds`` calls and ``min_seconds / rounds`` seconds at least. The first round warms
    each configuration up in full; a later round needs only to refill the caches another configuration evicted,
    so it warms up ``warmup`` calls and its share of ``warmup_seconds`` (the frequency ramp is machine-wide).
    """
    if rounds == 1:
        return protocol, protocol
    later = dict(protocol, runs=math.ceil(protocol["runs"] / rounds), min_seconds=protocol["min_seconds"] / rounds,
                 warmup_seconds=protocol["warmup_seconds"] / rounds)
    return dict(later, warmup_seconds=protocol["warmup_seconds"]), later


def interleave(count: int, time_one: Callable[[int, dict[str, Any]], Measurement], protocol: dict[str, Any], *,
               rounds: int, seed: int, before_round: Callable[[int], None] | None = None) -> Interleaved:
    """Time configurations ``0 … count-1`` in ``rounds`` rounds: ``time_one(i, round_protocol)`` times one.

    Args:
        count: how many configurations.
        time_one: times configuration ``i`` once under the given protocol (a dict of :meth:`Timer.run`'s options).
        protocol: the whole run's protocol (``runs``, ``min_seconds``, ``warmup``, ``warmup_seconds``).
        rounds: how many rounds (1: each configuration once, in the order given).
        seed: seeds the shuffled orders.
        before_round: called with the round's index before each round (a hook for a caller that interleaves
            several processes too).
    """
    first, later = round_protocols(protocol, rounds)
    timed: list[list[Measurement]] = [[] for _ in range(count)]
    orders = []
    with watch_machine() as watch:
        for round_index, order in enumerate(round_orders(count, rounds, seed)):
            if before_round is not None:
                before_round(round_index)
            orders.append(order)
            for i in order:
                timed[i].append(time_one(i, first if round_index == 0 else later))
    return Interleaved(timed, orders, uuid.uuid4().hex, watch.load)  # type: ignore[arg-type]
