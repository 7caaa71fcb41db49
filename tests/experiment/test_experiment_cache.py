"""Plan keys and the step cache: a re-run does nothing, a changed setting redoes only what depends on it,
interruptions keep finished steps, and an output folder of another study is refused."""

from __future__ import annotations

import errno

import pytest
from support import assert_one_line_error

from convbench.errors import ConfigError, ModelError
from convbench.experiment import load_experiment, make_plan, run


def _keys(plan, kind=None):
    return {s.name: s.key for s in plan if kind in (None, s.kind)}


def test_changing_one_setting_changes_only_dependent_keys(small_toml):
    base = make_plan(load_experiment(small_toml))
    width = make_plan(load_experiment(small_toml, settings={"models[1].width": 0.5}))
    runs = make_plan(load_experiment(small_toml, settings={"bench.runs": 7}))
    assert len(base) == 2 * (1 + 3 * 2) + 1  # per model: train, 3 × (export + parity); one bench timing every file

    unchanged = {s.key for s in base} & {s.key for s in width}
    assert unchanged == {s.key for s in base if s.model == "mobilenet_v2_0.35_32"}
    assert {s.kind for s in base if s.key not in {x.key for x in runs}} == {"bench"}
    assert len({s.key for s in base}) == len(base)  # every step has its own key and folder


def test_second_run_does_no_work_and_changed_width_retrains_one_model(small_toml, tmp_path, fake_steps, fast_plots):
    out = tmp_path / "out"
    first = run(small_toml, out=out, progress=False)
    assert len(first.ran) == len(first.plan) and not first.failed
    assert sorted(fake_steps.calls["train"]) == ["alexnet_separable_0.25_32", "mobilenet_v2_0.35_32"]

    fake_steps.calls.clear()
    second = run(small_toml, out=out, progress=False)
    assert second.ran == [] and second.cached == {s.key for s in second.plan}
    assert dict(fake_steps.calls) == {}
    assert second.results["latency"] == first.results["latency"]

    third = run(small_toml, out=out, settings={"models[1].width": 0.5}, progress=False)
    assert fake_steps.calls["train"] == ["alexnet_separable_0.50_32"]
    assert all(name.startswith("alexnet_separable_0.50_32") for kind in ("export", "parity")
               for name in fake_steps.calls[kind])
    assert fake_steps.calls["bench"] == ["6 configurations"]  # every file again, side by side with the new ones
    assert len(third.ran) == 8

    fake_steps.calls.clear()
    run(small_toml, out=out, settings={"bench.runs": 9}, progress=False)
    assert dict(fake_steps.calls) == {"bench": ["6 configurations"]}


def test_renamed_model_reuses_its_finished_steps(small_toml, tmp_path, fake_steps, fast_plots):
    out = tmp_path / "out"
    run(small_toml, out=out, progress=False)
    fake_steps.calls.clear()
    renamed = run(small_toml, out=out, settings={"models[0].name": "tiny_v2"}, progress=False)
    assert dict(fake_steps.calls) == {} and renamed.ran == []
    assert "tiny_v2" in {row["model"] for row in renamed.results["latency"]}
    assert all((out / row["file"]).is_file() for row in renamed.results["latency"])


def test_interrupted_run_keeps_finished_steps(small_toml, tmp_path, fake_steps, fast_plots):
    out = tmp_path / "out"
    fake_steps.fail["alexnet_separable_0.25_32 tflite int8"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        run(small_toml, out=out, progress=False)
    done_before = len(fake_steps.calls["export"])
    fake_steps.fail.clear()
    fake_steps.calls.clear()
    study = run(small_toml, out=out, progress=False)
    assert fake_steps.calls["train"] == []  # both models were trained before the interruption
    assert len(fake_steps.calls["export"]) == 6 - done_before + 1
    assert not study.failed and (out / "report.html").is_file()


def test_disk_full_is_one_line_and_resumable(small_toml, tmp_path, fake_steps, fast_plots, cli):
    out = tmp_path / "out"
    fake_steps.fail["mobilenet_v2_0.35_32 onnx none"] = OSError(errno.ENOSPC, "No space left on device",
                                                                  str(out / "x"))
    rc, _, err = cli("run", small_toml, "--out", out, "--quiet")
    assert_one_line_error(rc, err, "No space left on device", "export mobilenet_v2_0.35_32 onnx none", "resume")
    fake_steps.fail.clear()
    fake_steps.calls.clear()
    rc, out_text, _ = cli("run", small_toml, "--out", out, "--quiet")
    assert rc == 0 and "report:" in out_text
    assert fake_steps.calls["train"] == [] and "mobilenet_v2_0.35_32 tflite none" not in fake_steps.calls["export"]


def test_failed_step_skips_dependents_and_the_rest_goes_on(small_toml, tmp_path, fake_steps, fast_plots, cli):
    fake_steps.fail["alexnet_separable_0.25_32 tflite int8"] = ModelError("int8 conversion failed: op X")
    rc, _, err = cli("run", small_toml, "--out", tmp_path / "out", "--quiet")
    assert rc == 1 and "1 step(s) failed and 1 were skipped" in err
    results = (tmp_path / "out" / "report.md").read_text()
    assert "int8 conversion failed: op X" in results and "needs a step that failed" in results
    assert fake_steps.calls["bench"] == ["5 configurations"]  # the files that exist, still side by side
    assert results.count("alexnet_separable_0.25_32") >= 1 and "Ship " in results

    fake_steps.fail.clear()  # the converter is fixed: the rerun times all six files together
    fake_steps.calls.clear()
    rc, _, _ = cli("run", small_toml, "--out", tmp_path / "out", "--quiet")
    assert rc == 0 and fake_steps.calls["bench"] == ["6 configurations"]


def test_folder_of_another_study_is_refused_unless_forced(small_toml, tmp_path, fake_steps, fast_plots):
    out = tmp_path / "out"
    run(small_toml, out=out, progress=False)
    other = tmp_path / "other.toml"
    other.write_text(small_toml.read_text().replace('name = "small"', 'name = "other"'))
    with pytest.raises(ConfigError, match=r"holds the results of study 'small', not 'other'.*--force"):
        run(other, out=out, progress=False)
    fake_steps.calls.clear()
    study = run(other, out=out, force=True, progress=False)
    assert study.ran == [] and fake_steps.calls == {}  # same settings: the forced study reuses every step

    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no convbench study"):
        run(small_toml, out=stranger, dry_run=True)


def test_dry_run_runs_nothing_and_reports_cache(small_toml, tmp_path, fake_steps, fast_plots, cli):
    out = tmp_path / "out"
    rc, text, _ = cli("run", small_toml, "--out", out, "--dry-run")
    assert rc == 0 and "0 of 15 steps cached" in text and not out.exists() and fake_steps.calls == {}
    run(small_toml, out=out, progress=False)
    rc, text, _ = cli("run", small_toml, "--out", out, "--dry-run", "--set", "bench.runs=3")
    assert "14 of 15 steps cached; 1 to run" in text


def test_resume_uses_the_saved_study(small_toml, tmp_path, fake_steps, fast_plots):
    out = tmp_path / "out"
    run(small_toml, out=out, settings={"train.epochs": 3}, progress=False)
    fake_steps.calls.clear()
    study = run(out=out, resume=True, progress=False)
    assert study.experiment.train.epochs == 3 and study.ran == []
    assert "--set train.epochs=3" in study.results["study"]["command"]
    with pytest.raises(ConfigError, match="give --out"):
        run(resume=True)


def test_resume_where_no_study_is_is_refused(small_toml, tmp_path, fake_steps, fast_plots, cli):
    """--resume on a folder without a study started the study afresh, silently."""
    out = tmp_path / "new"
    rc, text, err = cli("run", small_toml, "--out", out, "--resume", "--quiet")
    assert_one_line_error(rc, err, "--resume", str(out), "holds no convbench study")
    assert text == "" and not out.exists() and fake_steps.calls == {}
    out.mkdir()
    with pytest.raises(ConfigError, match="holds no convbench study to resume"):
        run(small_toml, out=out, resume=True, progress=False)
    run(small_toml, out=out, progress=False)  # started without --resume …
    assert run(small_toml, out=out, resume=True, progress=False).ran == []  # … then resumed


@pytest.mark.parametrize(("damage", "what"), [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "[1, 2]", "not a convbench study record"),
    (lambda text: text.replace("{", "\udcff", 1), "not UTF-8"),
])
def test_a_damaged_study_record_is_named_with_what_is_wrong(small_toml, tmp_path, fake_steps, fast_plots, cli,
                                                            damage, what):
    """A hand-damaged study.json was reported as "holds no convbench study"; now the file and its fault are named."""
    out = tmp_path / "out"
    run(small_toml, out=out, progress=False)
    record = out / "study.json"
    record.write_text(damage(record.read_text(encoding="utf-8")), encoding="utf-8", errors="surrogateescape")
    for args in (("run", small_toml, "--out", out), ("run", "--resume", "--out", out)):
        rc, _, err = cli(*args, "--quiet")
        assert_one_line_error(rc, err, str(record), what)
        assert "holds no convbench study" not in err
    fake_steps.calls.clear()
    study = run(small_toml, out=out, force=True, progress=False)  # --force moves the damaged record aside
    assert study.ran == [] and len(list(out.glob("superseded-unknown-*/study.json"))) == 1

