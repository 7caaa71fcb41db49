"""Timer protocol with a fake clock: counts of warm-up and timed calls, never the speed of this machine."""

from __future__ import annotations

import pytest

from convbench.bench import Timer
from convbench.errors import ConfigError

MS = 1_000_000


class FakeWork:
    """A clock that only moves when the timed function runs: each call takes exactly ``step_ns``."""

    def __init__(self, step_ns: int = MS) -> None:
        self.now, self.step, self.calls = 0, step_ns, 0

    def clock(self) -> int:
        return self.now

    def __call__(self) -> None:
        self.calls += 1
        self.now += self.step


@pytest.mark.parametrize(("runs", "min_seconds", "expected"), [
    (5, 0.020, 20),   # time budget dominates: 20 calls of 1 ms
    (50, 0.020, 50),  # count dominates
    (7, 0.0, 7),
])
def test_run_honours_runs_and_min_seconds(runs, min_seconds, expected):
    work = FakeWork()
    m = Timer(work, clock=work.clock).run(runs=runs, min_seconds=min_seconds, warmup=0, warmup_seconds=0)
    assert m.n == expected and work.calls == expected
    assert m.times_s == (1e-3,) * expected
    assert m.median == 1e-3 and m.number_per_run == 1


@pytest.mark.parametrize(("warmup", "warmup_seconds", "expected"), [
    (3, 0.010, 10),  # time dominates: 10 calls of 1 ms
    (15, 0.010, 15),  # count dominates
    (0, 0.0, 0),
])
def test_warmup_by_count_and_time(warmup, warmup_seconds, expected):
    work = FakeWork()
    m = Timer(work, clock=work.clock).run(runs=4, min_seconds=0, warmup=warmup, warmup_seconds=warmup_seconds)
    assert m.metadata["warmup_calls"] == expected
    assert work.calls == expected + 4
    assert m.metadata["warmup_s"] == pytest.approx(expected * 1e-3)


def test_setup_runs_once_untimed_and_spec_is_recorded():
    work, setups = FakeWork(), []
    timer = Timer(work, setup=lambda: setups.append(1), label="m", sub_label="litert t2", description="inference",
                  num_threads=2, clock=work.clock)
    m = timer.run(runs=3, min_seconds=0, warmup=2, warmup_seconds=0)
    assert setups == [1]
    assert (m.label, m.sub_label, m.description, m.num_threads) == ("m", "litert t2", "inference", 2)
    assert m.spec.title == "m: litert t2 / inference"


def test_max_samples_caps_a_long_budget():
    work = FakeWork()
    m = Timer(work, clock=work.clock).run(runs=1, min_seconds=10.0, warmup=0, warmup_seconds=0, max_samples=30)
    assert m.n == 30 and m.metadata["capped_at_max_samples"]


def test_timeit_exact_count_after_one_warmup_call():
    work = FakeWork()
    m = Timer(work, clock=work.clock).timeit(12)
    assert m.n == 12 and work.calls == 13


def test_blocked_autorange_reports_per_call_times():
    work = FakeWork(step_ns=1000)
    m = Timer(work, clock=work.clock).blocked_autorange(min_run_time=0.05)
    assert m.number_per_run >= 1
    assert all(t == pytest.approx(1e-6) for t in m.times_s)
    assert m.n * m.number_per_run >= 50_000  # 0.05 s of 1 µs calls


def test_real_clock_smoke():
    calls = []
    m = Timer(lambda: calls.append(1)).run(runs=20, min_seconds=0, warmup=2, warmup_seconds=0)
    assert m.n == 20 and len(calls) == 22 and m.min >= 0 and m.metadata["clock"] == "time.perf_counter_ns"


@pytest.mark.parametrize(("options", "culprit"), [
    ({"runs": 0}, "runs"), ({"min_seconds": -1}, "min_seconds"), ({"warmup": -1}, "warmup"),
    ({"warmup_seconds": float("nan")}, "warmup_seconds"),
])
def test_impossible_options(options, culprit):
    work = FakeWork()
    with pytest.raises(ConfigError, match=culprit):
        Timer(work, clock=work.clock).run(**options)
    assert work.calls == 0


def test_fn_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        Timer(42)
