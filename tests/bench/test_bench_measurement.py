"""Measurement: lazy statistics, JSON round trip, merging replicates, repr."""

from __future__ import annotations

import json

import pytest

from convbench.bench import Measurement, TaskSpec

SPEC = TaskSpec("tiny", "litert t1", "inference", 1)
ONE_TO_TEN_MS = [k * 1e-3 for k in (7, 3, 10, 1, 5, 9, 2, 8, 4, 6)]


def test_statistics_of_known_sample():
    m = Measurement(SPEC, ONE_TO_TEN_MS)
    assert m.n == 10 and m.min == pytest.approx(1e-3) and m.max == pytest.approx(10e-3)
    assert m.median == pytest.approx(5.5e-3) and m.mean == pytest.approx(5.5e-3)
    assert m.std == pytest.approx(3.0276503540974917e-3)  # sample std of 1..10
    assert m.p90 == pytest.approx(9.1e-3) and m.iqr == pytest.approx(4.5e-3)
    assert (m.ci95.low, m.ci95.high) == pytest.approx((2e-3, 9e-3))
    assert m.unstable  # IQR/median = 0.82


def test_unstable_threshold():
    steady = Measurement(SPEC, [1.0] * 8 + [1.05, 0.95])
    assert not steady.unstable and steady.iqr_ratio == 0.0
    assert Measurement(SPEC, [1.0, 1.0, 1.3, 0.8]).unstable


def test_from_ns_divides_by_calls_per_sample():
    m = Measurement.from_ns(SPEC, [2_000_000, 4_000_000], number_per_run=2)
    assert m.times_s == (1e-3, 2e-3)


def test_json_round_trip_keeps_raw_samples():
    m = Measurement(SPEC, ONE_TO_TEN_MS, metadata={"warmup_calls": 3})
    d = json.loads(json.dumps(m.to_dict()))
    assert d["unit"] == "s" and d["times_s"] == ONE_TO_TEN_MS
    assert d["stats"]["ci95"] == pytest.approx([2e-3, 9e-3]) and d["stats"]["unstable"] is True
    back = Measurement.from_dict(d)
    assert back == m and back.median == m.median and back.spec == SPEC


def test_merge_pools_replicates_by_spec():
    other = TaskSpec("tiny", "litert t2", "inference", 2)
    a = Measurement(SPEC, [1e-3, 2e-3], metadata={"clock": "c", "wall_s": 1})
    b = Measurement(SPEC, [3e-3], metadata={"clock": "c", "wall_s": 2})
    c = Measurement(other, [5e-3])
    merged = {m.spec: m for m in Measurement.merge([a, b, c])}
    assert merged[SPEC].times_s == (1e-3, 2e-3, 3e-3)
    assert merged[SPEC].metadata == {"clock": "c", "replicates": 2, "replicate_medians": [1.5e-3, 3e-3]}
    assert merged[other].n == 1
    with pytest.raises(TypeError):
        Measurement.merge([a, "b"])


def test_repr_picks_unit_and_flags_instability():
    text = repr(Measurement(SPEC, ONE_TO_TEN_MS))
    assert "tiny: litert t1 / inference" in text and "median 5.50 ms" in text and "unstable" in text
    assert "µs" in repr(Measurement(SPEC, [2e-6, 2e-6, 2e-6]))


def test_empty_measurement_rejected():
    with pytest.raises(ValueError, match="no samples"):
        Measurement(SPEC, [])
