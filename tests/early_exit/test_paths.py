"""The per-path breakdown and what the deployed forms run: every deployed file holds exactly its parts' ops (no
recomputation, no dynamic-shape ops), the chained form passes the features in one copy without allocating, both
forms still decide as Keras does, and the breakdown's rows add up to the gap they explain.

Timings are taken with tiny protocols and never compared with each other: only identities and structure are
asserted (a test that timed one path against another would pass or fail with the machine's load).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from convbench.early_exit.paths import (
    COPY,
    PARTS,
    PartRunners,
    PathBreakdown,
    breakdown_for_files,
    path_images,
    time_breakdown,
)
from convbench.errors import ConfigError, ModelError
from convbench.export.early_exit import (
    BRANCH_GLUE_OPS,
    EarlyExitExport,
    PartFiles,
    export_early_exit,
    export_parts,
    graph_ops,
    load_early_exit,
)
from convbench.report.early_exit_paths import missing_table, timings_table
from convbench.runtime import open_runner
from convbench.runtime.early_exit import ChainedEarlyExitRunner, open_early_exit_runner

TINY = dict(rounds=2, runs=3, min_seconds=0.0, warmup=1, warmup_seconds=0.0)  # structure, not figures
DYNAMIC_SHAPE_OPS = {"SHAPE", "PACK"}  # what a free batch dimension brings into a flatten


@pytest.fixture(scope="module")
def files(trained_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[EarlyExitExport, PartFiles]:
    out = tmp_path_factory.mktemp("paths")
    model = trained_dir / "early_exit" / "model.keras"
    return export_early_exit(model, out), export_parts(model, out / "parts")


def _ops(path: Path) -> dict[str, list[str]]:
    return graph_ops(path.read_bytes())


def _main(path: Path) -> Counter[str]:
    return Counter(_ops(path)["main"])


def test_deployed_files_run_exactly_their_parts(files):
    deployed, parts = files
    stem, head, rest, backbone, call = (_main(getattr(parts, name)) for name in PARTS)
    assert call == Counter({"CONV_2D": 1})  # the one-op model: the fixed cost of a call
    assert backbone == stem + rest  # the cut adds and drops nothing
    assert _main(deployed.stem) == stem + head  # chained: the stem segment is the stem and the exit head
    assert _main(deployed.rest) == rest
    graphs = _ops(deployed.single)
    main = Counter(graphs.pop("main"))
    assert not main - (stem + head) - Counter({op: main[op] for op in BRANCH_GLUE_OPS})  # nothing but glue added
    assert main["IF"] == 1
    branches = sorted(graphs.values(), key=len)
    assert branches[0] == []  # the exit branch computes nothing
    assert Counter(branches[1]) == rest  # the continue branch is the rest: nothing recomputed
    for path in (deployed.stem, deployed.rest, *(getattr(parts, n) for n in PARTS)):
        assert not DYNAMIC_SHAPE_OPS & set(_main(path)), path.name  # batch 1 fixed: no dynamic flatten


def test_exit_head_is_its_layers_and_nothing_else(trained_dir, files):
    _, parts = files
    model, _ = load_early_exit(trained_dir / "early_exit" / "model.keras")
    dense = [layer for layer in model.layers if layer.name.startswith("exit_") and hasattr(layer, "units")]
    head = _main(parts.exit_head)
    assert head["FULLY_CONNECTED"] == len(dense)  # one op per Dense layer: no dropout, no extra matmul
    assert set(head) == {"MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"}
    assert head["SOFTMAX"] == 1 and head["MAX_POOL_2D"] == 1 and head["RESHAPE"] <= 1


def test_parts_compute_what_the_model_computes(trained_dir, files, digit_mix):
    _, parts = files
    model, card = load_early_exit(trained_dir / "early_exit" / "model.keras")
    x = card.preprocessing(digit_mix.test.images[:8])
    expected = model(x, training=False)
    runners = {name: open_runner(getattr(parts, name)) for name in PARTS}
    for i, image in enumerate(x[:, None]):
        features = runners["stem"].predict(image)
        np.testing.assert_allclose(runners["exit_head"].predict(features)[0], expected["exit"][i], atol=1e-5)
        np.testing.assert_allclose(runners["rest"].predict(features)[0], expected["main"][i], atol=1e-5)
        np.testing.assert_allclose(runners["backbone"].predict(image)[0], expected["main"][i], atol=1e-5)
    assert runners["call"].predict(np.ones((1, 1, 1, 1), np.float32)).shape == (1, 1, 1, 1)


class _Counting:
    """An interpreter stand-in that counts the copying calls (``get_tensor``, ``set_tensor``) made through it."""

    def __init__(self, interpreter):
        self._interpreter, self.copies = interpreter, 0

    def get_tensor(self, *args):
        self.copies += 1
        return self._interpreter.get_tensor(*args)

    def set_tensor(self, *args):
        self.copies += 1
        return self._interpreter.set_tensor(*args)


def test_chained_invoke_passes_features_in_place_and_decides_as_keras(trained_dir, files, digit_mix):
    deployed, _ = files
    model, card = load_early_exit(trained_dir / "early_exit" / "model.keras")
    x = card.preprocessing(digit_mix.test.images[:30])
    reference = model(x, training=False)
    runner = open_early_exit_runner(deployed.stem)
    assert isinstance(runner, ChainedEarlyExitRunner)
    runner.load()
    stem, rest = _Counting(runner._stem), _Counting(runner._rest)
    runner._stem, runner._rest = stem, rest  # invoke goes through bound methods and views: it must copy nothing
    with runner.forced_path("full"):
        for i, image in enumerate(x[:, None]):
            runner.set_input(image)
            before = stem.copies + rest.copies
            runner.invoke()
            assert stem.copies + rest.copies == before  # no get_tensor/set_tensor inside the timed call
            np.testing.assert_array_equal(rest._interpreter.get_tensor(runner._rest_in),
                                          stem._interpreter.get_tensor(runner._features_index))
            np.testing.assert_allclose(runner.main_probabilities(), reference["main"][i], atol=1e-5)
            np.testing.assert_allclose(runner.exit_probabilities(), reference["exit"][i], atol=1e-5)


@pytest.fixture(scope="module")
def breakdown(files, trained_dir, digit_mix) -> PathBreakdown:
    deployed, parts = files
    forms = [open_early_exit_runner(deployed.single), open_early_exit_runner(deployed.stem)]
    part_runners = PartRunners(*(open_runner(getattr(parts, name)) for name in PARTS))
    for runner in (*forms, *vars(part_runners).values()):
        runner.load()
    _, card = load_early_exit(trained_dir / "early_exit" / "model.keras")
    images = path_images(forms[0], card.preprocessing(digit_mix.test.images[:60]))
    assert images.exit_natural and images.continue_natural  # the tiny model exits on some digits, not all
    for runner in forms:
        for image, exits in ((images.exit, True), (images.continue_, False)):
            runner.set_input(image)
            runner.invoke()
            assert runner.exited == exits
    return time_breakdown(forms, part_runners, images, **TINY)


def test_breakdown_times_every_part_and_path(breakdown):
    assert set(breakdown.parts) == set(PARTS)
    assert set(breakdown.forms["single"]) == {"exit_path", "continue_path"}
    assert set(breakdown.forms["chained"]) == {"exit_path", "continue_path", COPY}
    every = [*breakdown.parts.values(), *(m for items in breakdown.forms.values() for m in items.values())]
    assert all(m.metadata["replicates"] == TINY["rounds"] and m.n >= TINY["runs"] for m in every)
    assert len(breakdown.protocol["round_orders"]) == TINY["rounds"]
    assert 0 < breakdown.stem_share < 1 and breakdown.exit_share > 0  # (the tiny backbone is smaller than its exit)


def test_breakdown_records_samples_only_when_asked(breakdown):
    full, summary = breakdown.to_dict(), breakdown.to_dict(samples=False)
    assert len(full["parts"]["stem"]["times_s"]) == breakdown.parts["stem"].n
    assert "times_s" not in summary["parts"]["stem"] and "times_s" not in summary["forms"]["chained"][COPY]
    assert summary["parts"]["stem"]["stats"] == full["parts"]["stem"]["stats"]


@pytest.mark.parametrize("form", ["single", "chained"])
def test_missing_rows_add_up_to_the_gap(breakdown, form):
    analysis = breakdown.analyse(form, 0.5, exit_fraction=0.4)
    assert sum(m.share for m in analysis.missing) == pytest.approx(analysis.ideal - analysis.from_paths, abs=1e-12)
    measured = breakdown.analyse(form, 0.5, exit_fraction=0.4, measured=0.123)
    assert sum(m.share for m in measured.missing) == pytest.approx(measured.ideal - 0.123, abs=1e-12)
    assert measured.ratio == (pytest.approx(0.123 / measured.ideal) if measured.ideal > 0 else None)
    copy = next(m.share for m in analysis.missing if m.cause.startswith("copy of the features"))
    assert (copy > 0) == (form == "chained")  # the single file has no copy of its own (the IF op's is in o_C)
    second = next(m.share for m in analysis.missing if m.cause.startswith("a second interpreter call"))
    assert (second > 0) == (form == "chained")
    call = breakdown.parts["call"].median / breakdown.parts["backbone"].median
    assert analysis.shares["exit_head"] == pytest.approx(
        breakdown.parts["exit_head"].median / breakdown.parts["backbone"].median - call)  # net of its own call
    perfect = breakdown.analyse(form, 0.5)  # f defaults to r: the exits-vs-redundancy row is zero
    assert perfect.exit_fraction == 0.5 and perfect.missing[0].share == 0
    table = missing_table([analysis, measured])
    assert len(table.rows[0]) == 3 and timings_table(breakdown).rows


def test_breakdown_refuses_bad_input(breakdown, files):
    with pytest.raises(ConfigError, match="form 'other'"):
        breakdown.analyse("other", 0.5)
    with pytest.raises(ConfigError, match="exit_fraction"):
        breakdown.analyse("single", 0.5, exit_fraction=1.5)
    deployed, parts = files
    single = open_early_exit_runner(deployed.single)
    with pytest.raises(ConfigError, match="one runner per deployed form"):
        time_breakdown([single, single], PartRunners(*(open_runner(getattr(parts, n)) for n in PARTS)),
                       None, **TINY)


def test_breakdown_for_files_needs_the_unchanged_source(trained_dir, tmp_path, digit_mix):
    copy = tmp_path / "model.keras"
    shutil.copy(trained_dir / "early_exit" / "model.keras", copy)
    shutil.copy(trained_dir / "early_exit" / "model.keras.json", tmp_path / "model.keras.json")
    single = export_early_exit(copy, tmp_path, ("single",)).single
    copy.write_bytes(copy.read_bytes() + b"\0")  # the weights the parts would come from are not the file's
    with pytest.raises(ModelError, match="gone or changed"):
        breakdown_for_files([single], np.zeros((1, 32, 32, 1), np.float32), **TINY)


FAST_BENCH = ("--runs", "3", "--min-seconds", "0", "--warmup", "1", "--warmup-seconds", "0", "--load-repeats", "1",
              "--rounds", "2")


def test_bench_paths_prints_the_breakdown(cli, files):
    deployed, _ = files
    rc, out, err = cli("bench", deployed.stem, "--paths", *FAST_BENCH)
    assert rc == 0, err
    for text in ("continue path", "copy", "exit_head", "Where the missing saving goes", "total missing"):
        assert text in out, text


def test_bench_paths_refuses_a_plain_file_before_timing(cli, files):
    _, parts = files
    rc, out, err = cli("bench", parts.backbone, "--paths", *FAST_BENCH)
    assert rc != 0
    assert "not an exported early-exit file" in err and len(err.strip().splitlines()) == 1
    assert "inference" not in out  # refused before the plain timing ran
