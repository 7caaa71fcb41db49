"""A tiny search on the embedded digits, end to end in this process: trials trained, exported and timed; the result
and its report; and the test split read only after the last trial ended."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from search.searchkit import write_space

from convbench.data import Dataset, Preprocessing, load, split
from convbench.report.search_section import write_search_report
from convbench.search import RESULT_FILE, SearchResult, recommend, search

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_with_test() -> Dataset:
    """Digits with an official test split, so the test images are one array the spy can recognise."""
    digits = load("digits")
    train, test = split(digits.train, (0.8, 0.2), seed=1)
    return Dataset("digits", digits.class_names, train, test, "digits-with-test")


def test_a_tiny_search_runs_end_to_end_and_reads_the_test_split_only_after_the_trials(
        tmp_path: Path, digits_with_test: Dataset, monkeypatch: pytest.MonkeyPatch):
    reads: list[tuple[float, bool]] = []  # (when, whether the images were the test split's)
    prepare = Preprocessing.prepare

    def spying_prepare(self: Preprocessing, images: np.ndarray) -> np.ndarray:
        # every path from pixels to a model goes through prepare (training, parity, evaluation)
        reads.append((time.time(), bool(np.shares_memory(images, digits_with_test.test.images))))
        return prepare(self, images)

    monkeypatch.setattr(Preprocessing, "prepare", spying_prepare)
    out = tmp_path / "search"
    # floor 0.05: two epochs of a tiny net on 10 classes get well above chance but not far; the test is the mechanics
    result = search(digits_with_test, floor=0.05, out=out, budget="10m", max_trials=3, epochs=2, batch_size=16,
                    space=write_space(tmp_path), progress=False)

    test_reads = [when for when, is_test in reads if is_test]
    assert test_reads, "the recommendation was never scored on the test split"
    assert min(test_reads) >= result.trials_ended_at
    assert any(not is_test for _, is_test in reads)  # training read the other splits before

    assert SearchResult.load(out / RESULT_FILE) == result
    assert len(result.trials) == 3
    complete = [t for t in result.trials if t.state == "complete"]
    assert complete, [t.error for t in result.trials]
    for t in complete:
        exported = out / t.model_file
        assert exported.suffix == ".tflite" and exported.stat().st_size == t.file_size_bytes
        assert t.latency.ci95_low_ms <= t.latency.median_ms <= t.latency.ci95_high_ms
        assert t.trained_on and t.timed_on
        assert 0 < t.val_accuracy <= 1 and len(t.val_accuracy_per_epoch) == t.epochs_run
    assert set(result.pareto) <= {t.number for t in complete}
    assert result.recommendation == recommend(result.trials, 0.05, final_timing=result.final_timing)
    if result.final_timing is not None:  # the fastest feasible trials, timed again side by side in rounds
        final = result.final_timing
        assert len(final.finalists) >= 2 and final.rounds == 10 and result.recommendation in final.tied
        assert len(final.statements) == len(final.finalists) - 1
    assert {s.number for s in result.test_scores} == {*result.pareto, result.recommendation}
    assert all(s.count == len(digits_with_test.test) for s in result.test_scores)

    paths = write_search_report(result, out)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"trial #{result.recommendation}" in report and "never steered" in report
    assert (out / "plots" / "search_pareto.png") in paths
