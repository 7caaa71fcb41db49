"""The verdict between two timed configurations is decided on paired interleaved rounds (issue 29)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench.bench.machine_load import BUSY_OTHER_CORES, MACHINE_KEY, MachineLoad, watch_machine
from convbench.bench.measurement import Measurement, TaskSpec
from convbench.bench.rounds import INTERLEAVING_KEY, interleave, round_protocols
from convbench.bench.verdict import ALPHA, MIN_ROUNDS, NOISE_MARGIN, rank, verdict

QUIET = MachineLoad((0.1, 0.1), 0.01, 5.0, 2)
BUSY = MachineLoad((1.0, 2.0), 0.97, 5.0, 2)


def timed_in_rounds(round_medians: list[float], name: str, run: str | None = "run-1",
                    machine: MachineLoad = QUIET, calls: int = 50, seed: int = 0) -> Measurement:
    """One configuration's pooled rounds, as :func:`convbench.bench.rounds.interleave` leaves them: each round's
    calls spread ±3 % around that round's median."""
    rng = np.random.default_rng(seed)
    rounds = [Measurement(TaskSpec(name, "litert t1", "inference"), m * rng.uniform(0.97, 1.03, calls))
              for m in round_medians]
    pooled = Measurement.merge(rounds)[0] if len(rounds) > 1 else rounds[0]
    if run is not None:
        pooled.metadata.update({INTERLEAVING_KEY: run, MACHINE_KEY: machine.to_dict()})
    return pooled


def drifting(rounds: int, seed: int = 1) -> np.ndarray:
    """Round-to-round drift as these VMs show it: each round's speed moves up to ±40 %."""
    return np.random.default_rng(seed).uniform(0.6, 1.4, rounds) * 1e-4


def test_a_steady_difference_under_heavy_drift_is_clear_and_names_the_faster():
    drift = drifting(10)
    fast, slow = timed_in_rounds(list(drift), "fast", seed=1), timed_in_rounds(list(drift * 1.08), "slow", seed=2)
    v = verdict("slow", slow, "fast", fast)  # either order: the faster comes first
    assert (v.faster, v.slower) == ("fast", "slow") and v.clear
    assert 1.05 < v.ratio < 1.11 and v.ratio_ci[0] > 1 + NOISE_MARGIN and v.p_value < ALPHA
    assert "clearly ahead" in v.statement and "10 interleaved rounds" in v.statement


def test_per_call_statistics_alone_would_call_it_but_the_rounds_do_not():
    """The issue's failure: within each round one file is ahead, but which one changes from round to round."""
    drift = drifting(10)
    flips = np.where(np.arange(10) % 2 == 0, 1.06, 1 / 1.05)
    a, b = timed_in_rounds(list(drift), "a"), timed_in_rounds(list(drift * flips), "b", seed=3)
    v = verdict("a", a, "b", b)
    assert not v.clear and v.rounds_disagree
    assert "no clear winner at this machine's noise" in v.statement and "rounds disagree" in v.statement


def test_too_few_rounds_never_give_a_verdict():
    drift = drifting(MIN_ROUNDS - 1)
    fast, slow = timed_in_rounds(list(drift), "fast"), timed_in_rounds(list(drift * 1.5), "slow", seed=2)
    v = verdict("fast", fast, "slow", slow)
    assert not v.clear and f"needs at least {MIN_ROUNDS} rounds" in v.statement


def test_a_busy_machine_calls_nothing_clear():
    drift = drifting(10)
    fast, slow = (timed_in_rounds(list(drift), "fast", machine=BUSY),
                  timed_in_rounds(list(drift * 1.3), "slow", machine=BUSY, seed=2))
    v = verdict("fast", fast, "slow", slow)
    assert v.separated and v.busy and not v.clear
    assert "machine was busy" in v.statement and "0.97 of 2 cores" in v.statement


def test_separate_runs_are_not_compared():
    drift = drifting(10)
    a, b = timed_in_rounds(list(drift), "a", run="run-1"), timed_in_rounds(list(drift * 2), "b", run="run-2")
    v = verdict("a", a, "b", b)
    assert v.unpaired and not v.clear and "not compared" in v.statement and "separate runs" in v.statement
    untagged = timed_in_rounds(list(drift * 2), "b", run=None)
    assert verdict("a", a, "b", untagged).unpaired


def test_identical_configurations_are_called_different_at_most_at_the_stated_rate():
    """2,000 pairs of one configuration, each round's median with its own ±3 % noise on top of shared drift."""
    rng = np.random.default_rng(7)
    called = 0
    trials = 2000
    for _ in range(trials):
        drift = rng.uniform(0.6, 1.4, 10)
        a, b = drift * rng.lognormal(0, 0.03, 10), drift * rng.lognormal(0, 0.03, 10)
        ma, mb = (Measurement(TaskSpec(n), [1.0], metadata={"replicate_medians": list(m), INTERLEAVING_KEY: "r"})
                  for n, m in (("a", a), ("b", b)))
        called += verdict("a", ma, "b", mb).clear
    assert called / trials <= ALPHA


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.2, 5.0), min_size=MIN_ROUNDS, max_size=15),
       st.lists(st.floats(0.2, 5.0), min_size=MIN_ROUNDS, max_size=15))
def test_drift_shared_by_a_round_cancels(base, drift):
    """Scaling both configurations of a round alike (the machine slowing down) never changes the verdict."""
    n = min(len(base), len(drift))
    a, b = np.ones(n) * 1e-4, np.asarray(base[:n]) * 1e-4
    plain = verdict("a", timed_in_rounds(list(a), "a"), "b", timed_in_rounds(list(b), "b"))
    moved = np.asarray(drift[:n])
    shifted = verdict("a", timed_in_rounds(list(a * moved), "a"), "b", timed_in_rounds(list(b * moved), "b"))
    assert (plain.faster, plain.clear) == (shifted.faster, shifted.clear)
    assert plain.ratio == pytest.approx(shifted.ratio, rel=1e-9)


def test_interleave_pairs_rounds_and_warms_up_later_rounds_for_a_share():
    seen = []

    def time_one(i: int, protocol: dict) -> Measurement:
        seen.append((i, protocol["warmup_seconds"], protocol["runs"]))
        return Measurement(TaskSpec(f"c{i}"), [1e-3 * (i + 1)])

    protocol = {"runs": 100, "min_seconds": 1.0, "warmup": 5, "warmup_seconds": 0.5}
    run = interleave(3, time_one, protocol, rounds=10, seed=0)
    assert len(run.orders) == 10 and all(sorted(o) == [0, 1, 2] for o in run.orders)
    assert len({tuple(o) for o in run.orders}) > 1  # shuffled, not one fixed order
    first = [w for i, w, _ in seen[:3]]
    assert first == [0.5] * 3 and all(w == pytest.approx(0.05) and r == 10 for _, w, r in seen[3:])
    pooled = [run.pooled(i) for i in range(3)]
    assert {m.metadata[INTERLEAVING_KEY] for m in pooled} == {run.run_id}
    assert [len(m.replicate_medians) for m in pooled] == [10, 10, 10]
    assert round_protocols(protocol, 1) == (protocol, protocol)


def test_machine_load_sees_a_cpu_bound_neighbour():
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)  # the neighbour is running
        with watch_machine() as watch:
            time.sleep(1.5)
    finally:
        burner.wait()
    load = watch.load
    assert load.other_cores is not None and load.other_cores > 0.6 and load.busy
    assert "other processes used" in load.description


def test_machine_load_threshold_and_round_trip():
    assert not QUIET.busy and BUSY.busy
    assert MachineLoad((0.0, 0.0), BUSY_OTHER_CORES + 0.01, 1.0, 2).busy
    assert MachineLoad.from_dict(BUSY.to_dict()) == BUSY
    assert MachineLoad((3.0, 0.5), None, 1.0, 2).busy and not MachineLoad((0.5, 0.5), None, 1.0, 2).busy


def test_rank_ties_what_the_fastest_is_not_clearly_ahead_of_and_names_stay_apart():
    drift = drifting(10)
    flips = np.where(np.arange(10) % 2 == 0, 1.05, 1 / 1.05)
    fast = timed_in_rounds(list(drift), "fast")
    twin = timed_in_rounds(list(drift * flips), "twin", seed=2)
    slow = timed_in_rounds(list(drift * 1.3), "slow", seed=3)
    ranking = rank(["same", "slow", "same"], [twin, slow, fast])
    assert ranking.fastest in (0, 2) and sorted(ranking.tied) == [0, 2] and not ranking.clear
    assert ranking.closest.rounds_disagree
    clear = rank(["fast", "slow"], [fast, slow])
    assert clear.tied == (0,) and clear.clear and clear.closest.slower == "slow"
    busy = rank(["fast", "slow"], [timed_in_rounds(list(drift), "f", machine=BUSY),
                                   timed_in_rounds(list(drift * 1.3), "s", machine=BUSY, seed=3)])
    assert busy.tied == (0,) and busy.busy == BUSY and not busy.clear
    with pytest.raises(ValueError, match="two or more"):
        rank(["alone"], [fast])
