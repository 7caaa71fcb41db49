"""A bad-input tour of every command, as a new user or a hostile tester would take it.

Each case runs the real CLI (in-process through ``convbench.cli.main``; a few as real processes) in a folder
holding earlier results, and asserts what the house rules promise for bad input: exit status 2, exactly one
line on stderr naming the culprit, nothing on stdout, no traceback, and every file there byte for byte as before
(none changed, none added). The checks run before any data is loaded or model trained, so each case takes well
under a second (the first ones that reach the library import Keras once).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.standin import make_model_file, synthetic_result
from experiment.fakes import SMALL_TOML

from convbench.artifacts import ModelCard, write_card
from convbench.data import Preprocessing

# (id, argv with placeholders, what the error line must name). Placeholders, filled from the workspace:
# {file}: an existing file; {folder}: a folder of earlier results; {model}: a model file with its card;
# {result}: a bench result JSON; {noinf}: one without phases.inference; {toml}: a small experiment file;
# {mine}: a folder of the user's own files that convbench did not write (model.keras, training.json, report.md …);
# {keras}: a Keras model file with its card, in {mine}; {space}: a search space file with an option value no
# architecture builds; {damaged}: a study folder whose study.json was cut short.
CASES = [
    # train
    ("train-width-inf", "train --arch mobilenet_v1 --out new --width inf", "width=inf"),
    ("train-width-nan", "train --arch mobilenet_v1 --out new --width nan", "width=nan"),
    ("train-width-0", "train --arch mobilenet_v1 --out new --width 0", "width=0"),
    ("train-width-huge", "train --arch mobilenet_v1 --out new --width 1e9", "width"),
    ("train-seed-negative", "train --arch mobilenet_v1 --out new --seed -1", "seed=-1"),
    ("train-seed-too-big", "train --arch mobilenet_v1 --out new --seed 4294967296", "seed=4294967296"),
    ("train-epochs-0", "train --arch mobilenet_v1 --out new --epochs 0", "epochs=0"),
    ("train-batch-0", "train --arch mobilenet_v1 --out new --batch-size 0", "batch_size=0"),
    ("train-patience-0", "train --arch mobilenet_v1 --out new --patience 0", "patience=0"),
    ("train-input-size-0", "train --arch mobilenet_v1 --out new --input-size 0", "input_size=0"),
    ("train-channels-2", "train --arch mobilenet_v1 --out new --channels 2", "channels=2"),
    ("train-out-is-a-file", "train --arch mobilenet_v1 --out {file}", "{file}"),
    ("train-out-under-a-file", "train --arch mobilenet_v1 --out {file}/sub", "{file}"),
    ("train-out-empty", ["train", "--arch", "mobilenet_v1", "--out", ""], "the path is empty"),
    ("run-out-blank", ["run", "{toml}", "--out", " "], "the path is empty"),
    ("train-unknown-arch", "train --arch nosuchnet --out new", "nosuchnet"),
    ("train-unknown-data", "train --arch mobilenet_v1 --out new --data nosuchset", "nosuchset"),
    ("train-missing-data-path", "train --arch mobilenet_v1 --out new --data fruits360:nosuch.zip", "nosuch.zip"),
    ("train-data-empty", ["train", "--arch", "mobilenet_v1", "--out", "new", "--data", ""], "data spec ''"),
    ("train-data-blank", ["train", "--arch", "mobilenet_v1", "--out", "new", "--data", " "], "data spec ' '"),
    ("train-digits-with-a-path", "train --arch mobilenet_v1 --out new --data digits:{folder}", "{folder}"),
    ("train-over-the-users-model", "train --arch mobilenet_v1 --out {mine}", "{mine}/model.keras"),
    # early-exit train
    ("ee-train-width-inf", "early-exit train --main digits --redundant digits --out new --width inf", "width=inf"),
    ("ee-train-seed", "early-exit train --main digits --redundant digits --out new --seed -1", "seed=-1"),
    ("ee-train-redundancy-1", "early-exit train --main digits --redundant digits --out new --redundancy 1",
     "redundancy=1"),
    ("ee-train-redundancy-nan", "early-exit train --main digits --redundant digits --out new --redundancy nan",
     "redundancy=nan"),
    ("ee-train-dropout-1", "early-exit train --main digits --redundant digits --out new --dropout 1", "dropout=1"),
    ("ee-train-max-train-1", "early-exit train --main digits --redundant digits --out new --max-train 1",
     "max_train=1"),
    ("ee-train-outlier-share", "early-exit train --main digits --redundant digits --out new --outlier-share 1",
     "outlier_share=1"),
    ("ee-train-exit-rate", "early-exit train --main digits --redundant digits --out new --exit-rate nan",
     "exit_rate=nan"),
    ("ee-train-redundant-share", "early-exit train --main digits --redundant digits --redundant digits "
     "--redundant-share 1 --redundant-share -1 --out new", "redundant_share=-1"),
    ("ee-train-out-is-a-file", "early-exit train --main digits --redundant digits --out {file}", "{file}"),
    ("ee-train-missing-redundant", "early-exit train --main digits --redundant omniglot:nosuch --out new", "nosuch"),
    ("ee-train-main-empty", ["early-exit", "train", "--main", "", "--redundant", "digits", "--out", "new"],
     "data spec ''"),
    ("ee-train-redundant-empty", ["early-exit", "train", "--main", "digits", "--redundant", "", "--out", "new"],
     "data spec ''"),
    # early-exit eval
    ("ee-eval-no-folder", "early-exit eval nosuchdir", "nosuchdir"),
    ("ee-eval-threshold-1", "early-exit eval {folder} --threshold 1", "threshold=1"),
    ("ee-eval-threshold-nan", "early-exit eval {folder} --threshold nan", "threshold=nan"),
    ("ee-eval-redundancy", "early-exit eval {folder} --redundancy -0.1", "redundancy=-0.1"),
    ("ee-eval-repeats-0", "early-exit eval {folder} --repeats 0", "repeats=0"),
    ("ee-eval-limit-1", "early-exit eval {folder} --limit 1", "limit=1"),
    ("ee-eval-threads-0", "early-exit eval {folder} --threads 0", "threads=0"),
    ("ee-eval-form", "early-exit eval {folder} --runtime-form triple", "triple"),
    ("ee-eval-not-a-training-folder", "early-exit eval {folder}", "early_exit"),
    ("ee-eval-out-is-a-file", "early-exit eval {folder} --out {file}", "{file}"),
    # bench
    ("bench-min-seconds-inf", "bench {model} --min-seconds inf", "min_seconds=inf"),
    ("bench-min-seconds-1e12", "bench {model} --min-seconds 1e12", "min_seconds"),
    ("bench-min-seconds-nan", "bench {model} --min-seconds nan", "min_seconds=nan"),
    ("bench-warmup-seconds-inf", "bench {model} --warmup-seconds inf", "warmup_seconds=inf"),
    ("bench-runs-0", "bench {model} --runs 0", "runs=0"),
    ("bench-warmup-negative", "bench {model} --warmup -1", "warmup=-1"),
    ("bench-threads-0", "bench {model} --threads 0", "threads=0"),
    ("bench-rounds-0", "bench {model} --rounds 0", "rounds=0"),
    ("bench-load-repeats-0", "bench {model} --load-repeats 0", "load_repeats=0"),
    ("bench-rounds-huge", "bench {model} --rounds 100000000", "rounds=100000000"),
    ("bench-load-repeats-huge", "bench {model} --load-repeats 100000000", "load_repeats=100000000"),
    ("bench-threads-huge", "bench {model} --threads 5000", "threads=5000"),
    ("bench-verbose-after-the-command", "bench {model} --rounds 0 --verbose", "rounds=0"),
    ("bench-no-model", "bench nosuch.tflite", "nosuch.tflite"),
    ("bench-model-is-a-folder", "bench {folder}", "{folder}"),
    ("bench-no-image", "bench {model} --image nosuch.png", "nosuch.png"),
    ("bench-json-is-a-folder", "bench {model} --json {folder}", "{folder}"),
    ("bench-json-under-a-file", "bench {model} --json {file}/r.json", "{file}"),
    ("bench-json-file-for-several", "bench {model} {model} --json {file}", "{file}"),
    ("bench-pin-text", "bench {model} --pin zero", "zero"),
    ("bench-pin-missing-cpu", "bench {model} --pin 99", "99"),
    ("bench-pin-huge-range", "bench {model} --pin 0-999999999999", "0-999999999999"),
    ("bench-pin-reversed", "bench {model} --pin 3-1", "3-1"),
    ("bench-unknown-runtime", "bench {model} --runtime nosuchrt", "nosuchrt"),
    ("bench-unknown-data", "bench {model} --data nosuchset", "nosuchset"),
    ("bench-data-empty", ["bench", "{model}", "--data", ""], "data spec ''"),
    # compare
    ("compare-out-is-a-file", "compare {result} {result} --out {file}", "{file}"),
    ("compare-no-result", "compare {result} nosuch.json", "nosuch.json"),
    ("compare-no-inference-phase", "compare {result} {noinf}", "noinf.json"),
    # export
    ("export-no-model", "export nosuch.keras", "nosuch.keras"),
    ("export-model-is-a-folder", "export {folder}", "{folder}"),
    ("export-unknown-target", "export {model} --to coreml", "coreml"),
    ("export-unknown-quantize", "export {model} --quantize int4", "int4"),
    ("export-out-is-a-folder", "export {model} --out {folder}", "{folder}"),
    ("export-missing-calibration", "export {model} --quantize int8 --calibration mnist:nosuch", "nosuch"),
    ("export-data-empty", ["export", "{model}", "--data", ""], "data spec ''"),
    ("export-over-the-users-file", "export {keras} --out {mine}/phone.tflite", "{mine}/phone.tflite"),
    ("export-beside-the-users-file", "export {mine}/net.keras --quantize int8", "{mine}/net.int8.tflite"),
    # models
    ("models-input-size-0", "models --input-size 0", "input_size=0"),
    ("models-input-size-negative", "models --input-size -3", "input_size=-3"),
    ("models-width-inf", "models --width inf", "width=inf"),
    ("models-channels-2", "models --channels 2", "channels=2"),
    ("models-classes-1", "models --classes 1", "classes=1"),
    # run and history
    ("run-out-is-a-file", "run {toml} --out {file}", "{file}"),
    ("run-no-experiment", "run nosuch.toml --out new", "nosuch"),
    ("run-history-under-a-file", "run {toml} --out new --history {file}/h.sqlite", "{file}"),
    ("run-out-holds-other-files", "run {toml} --out {folder}", "{folder}"),
    ("run-bad-setting", "run {toml} --out new --set train.epochs=0", "epochs"),
    ("run-data-main-empty", "run {toml} --out new --data main=", "--data main="),
    ("run-data-main-for-digits", "run {toml} --out new --data main={folder}", "takes no path"),
    ("run-seed-negative", "run {toml} --out new --set train.seed=-1", "train.seed"),
    ("run-width-inf", "run {toml} --out new --set models[0].width=inf", "models[0].width"),
    ("run-min-seconds-inf", "run {toml} --out new --set bench.min_seconds=inf", "bench.min_seconds"),
    ("run-min-seconds-1e12", "run {toml} --out new --set bench.min_seconds=1e12", "bench.min_seconds"),
    ("history-limit-0", "history --limit 0", "limit=0"),
    ("history-unknown-runtime", "history --runtime tensorrt", "unknown runtime 'tensorrt'; known: keras, litert"),
    ("run-rounds-huge", "run {toml} --out new --set bench.rounds=100000", "bench.rounds"),
    ("run-threads-huge", "run {toml} --out new --set bench.runtimes.litert=[5000]", "bench.runtimes.litert[0]"),
    ("run-resume-nothing", "run {toml} --out new --resume", "--resume: new holds no convbench study"),
    ("run-damaged-study", "run {toml} --out {damaged}", "{damaged}/study.json: unreadable study record"),
    ("run-resume-damaged-study", "run --resume --out {damaged}", "{damaged}/study.json: unreadable study record"),
    # datasets
    ("datasets-unknown", "datasets nosuchset:", "nosuchset"),
    ("datasets-empty", ["datasets", ""], "data spec ''"),
    ("datasets-digits-with-a-path", "datasets digits:{folder}", "{folder}"),
    # search
    ("search-floor-0", "search --floor 0 --out new", "floor=0"),
    ("search-floor-nan", "search --floor nan --out new", "floor=nan"),
    ("search-out-is-a-file", "search --floor 0.9 --out {file}", "{file}"),
    ("search-no-space", "search --floor 0.9 --out new --space nosuch.toml", "nosuch.toml"),
    ("search-trials-0", "search --floor 0.9 --out new --trials 0", "trials=0"),
    ("search-unknown-data", "search --floor 0.9 --out new --data nosuchset", "nosuchset"),
    ("search-resume-nothing", "search --floor 0.9 --out new --resume", "--resume: new holds no search"),
    ("search-space-bad-option", "search --floor 0.9 --out new --space {space}",
     '{space}: architectures.stagenet.options.conv: the value "dilated"'),
    ("search-target-threads-huge", "search --floor 0.9 --out new --target litert:5000", "litert:5000"),
    ("search-data-empty", ["search", "--floor", "0.9", "--out", "new", "--data", ""], "data spec ''"),
    ("search-over-the-users-report", "search --floor 0.9 --out {mine} --trials 1", "{mine}/report.md"),
    # usage errors: typer's own checks, as one line too
    ("usage-missing-argument", "compare", "results"),
    ("usage-not-a-number", "train --arch mobilenet_v1 --out new --width abc", "--width"),
    ("usage-unknown-option", "bench {model} --nosuch 1", "--nosuch"),
    ("usage-unknown-command", "nosuchcommand", "nosuchcommand"),
    ("svhn-empty-mat", "datasets svhn:{svhn_empty}", "train_32x32.mat"),
    ("svhn-cut-mat", "datasets svhn:{svhn_cut}", "train_32x32.mat"),
    ("train-on-cut-svhn", "train --arch mobilenet_v1 --out new --data svhn:{svhn_cut}", "train_32x32.mat"),
]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A working folder holding earlier results; the current directory during the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVBENCH_HISTORY", str(tmp_path / "history.sqlite"))
    Path("notes.txt").write_text("earlier notes\n")
    earlier = Path("earlier")
    earlier.mkdir()
    (earlier / "results.json").write_text('{"earlier": true}\n')
    model = make_model_file(Path("."))
    synthetic_result("tiny", 0.001, seed=1).save("result.json")
    broken = json.loads(Path("result.json").read_text())
    del broken["phases"]["inference"]
    Path("noinf.json").write_text(json.dumps(broken))
    Path("small.toml").write_text(SMALL_TOML)
    Path("space.toml").write_text('[architectures.stagenet]\noptions = { conv = ["dilated"] }\n')
    Path("damaged").mkdir()  # a study whose record was cut short by hand
    Path("damaged", "study.json").write_text('{"name": "small", "experiment": {"na')
    mine = Path("mine")  # the user's own files, not convbench's (no model card, no search record)
    mine.mkdir()
    for name in ("model.keras", "training.json", "report.md", "phone.tflite", "net.int8.tflite"):
        (mine / name).write_text(f"the user's own {name}\n")
    keras_model = mine / "net.keras"  # a Keras model with its card (export refuses before it reads the model)
    keras_model.write_bytes(b"a Keras model")
    write_card(keras_model, ModelCard("tiny", 1.0, (8, 8, 1), ("0", "1"), Preprocessing((8, 8), 1)))
    for name, size in (("svhn_empty", 0), ("svhn_cut", 200)):  # a download that stopped short
        Path(name).mkdir()
        for split in ("train", "test"):
            Path(name, f"{split}_32x32.mat").write_bytes(_MAT_V5_HEADER[:size])
    return {"file": "notes.txt", "folder": "earlier", "model": str(model), "result": "result.json",
            "noinf": "noinf.json", "toml": "small.toml", "svhn_empty": "svhn_empty", "svhn_cut": "svhn_cut",
            "mine": "mine", "keras": str(keras_model), "space": "space.toml", "damaged": "damaged"}


# The start of a MATLAB v5 file (128-byte header, then a data element that the cut leaves unfinished).
_MAT_V5_HEADER = (b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024".ljust(116)
                  + b"\x00" * 8 + b"\x00\x01IM" + b"\x0e\x00\x00\x00" + b"\xff\xff\x00\x00" + b"\x00" * 200)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` → its SHA-256 (``"dir"`` for folders)."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("args, needle", [pytest.param(a, n, id=i) for i, a, n in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(cli, workspace, args, needle):
    before = snapshot(Path("."))
    argv = args.split() if isinstance(args, str) else args  # a list where an argument is empty or has spaces
    rc, out, err = cli(*(arg.format(**workspace) for arg in argv))
    assert rc == 2, (rc, out, err)
    assert out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convbench: error:"), err
    assert needle.format(**workspace) in lines[0], lines[0]
    assert snapshot(Path(".")) == before


def test_ctrl_c_says_what_is_kept_and_exits_130(cli, workspace, monkeypatch):
    import convbench.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convbench.train, "train", interrupted)
    rc, out, err = cli("train", "--arch", "mobilenet_v1", "--out", "new")
    assert rc == 130 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == ["convbench: interrupted; finished epochs are kept in new/checkpoint: run the "
                                        "same command again to resume"]  # the real folder, not a literal OUT


@pytest.mark.parametrize(("args", "kept"), [
    (["search", "--floor", "0.9", "--quiet"], "finished trials are kept in results/search: run the same command with "
                                              "--resume to continue"),
    (["search", "--floor", "0.9", "--quiet", "-o", "mine/s"], "finished trials are kept in mine/s: "),
    (["search", "--floor", "0.9", "--out=elsewhere"], "finished trials are kept in elsewhere: "),
])
def test_ctrl_c_of_a_search_names_its_folder(cli, workspace, monkeypatch, args, kept):
    import convbench.search

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convbench.search, "search", interrupted)
    rc, _, err = cli(*args)
    assert rc == 130 and err.strip().startswith(f"convbench: interrupted; {kept}"), err


def test_ctrl_c_of_a_real_training_process(tmp_path):
    """SIGINT to a real `convbench train` once it has finished an epoch: one line, status 130, nothing half-written."""
    out = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}  # TensorFlow's own start-up lines are not ours to count
    process = subprocess.Popen([sys.executable, "-m", "convbench", "train", "--arch", "alexnet_separable",
                                "--width", "0.25", "--input-size", "32", "--epochs", "50", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               # a background job (nohup, CI) inherits SIGINT ignored, and Python then keeps it so
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list((out / "checkpoint").glob("epoch-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    ours = [line for line in err.splitlines() if line.startswith("convbench:")]
    assert ours == [f"convbench: interrupted; finished epochs are kept in {out / 'checkpoint'}: run the same command "
                    "again to resume"], err
    assert not list(out.rglob("*.tmp"))


def test_a_full_disk_names_the_file(workspace):
    """Writes beyond a file-size limit fail as on a full disk (EFBIG instead of ENOSPC): one line naming the file."""
    synthetic_result("other", 0.002, seed=2).save("other.json")
    before = snapshot(Path("."))

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    result = subprocess.run([sys.executable, "-m", "convbench", "compare", "result.json", "other.json", "--out",
                             "comparison"], preexec_fn=small_files, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("convbench: error: cannot write comparison/") and "File too large" in line
    assert {k: v for k, v in snapshot(Path(".")).items() if not k.startswith("comparison")} == before
    # the lock removes the folder it created when nothing complete went in; whatever stays holds no partial file
    left = list(Path("comparison").iterdir()) if Path("comparison").exists() else []
    assert not [p for p in left if p.name.endswith(".tmp")]


def test_a_full_disk_while_saving_the_model_names_model_keras(cli, workspace, monkeypatch):
    """Keras's own OSError names no file: "No space left on device" alone (the checkpoint's did name its file)."""
    import errno

    import keras

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    rc, _, err = cli("train", "--arch", "stagenet", "--width", "0.25", "--input-size", "16", "--epochs", "1",
                     "--out", "new")
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "convbench: error: cannot write new/model.keras: No space left on device"


def test_library_warnings_stay_off_the_terminal_unless_verbose(cli, workspace, monkeypatch):
    """A library's warning (Keras, Optuna …) is not convbench's to show; convbench's own warnings are, as one line."""
    import warnings

    def module(name: str, text: str):  # a warn() defined in a module of that name
        namespace = {"__name__": name}
        exec(f"import warnings\ndef warn():\n    warnings.warn({text!r}, UserWarning, stacklevel=2)\n", namespace)
        return namespace["warn"]

    library, ours = module("somelib.module", "a library talks"), module("convbench.somewhere", "convbench speaks")

    def describe_all(*args, **kwargs):
        library()  # attributed to this caller by its stacklevel, as Optuna's are to convbench's on Python 3.12
        ours()
        return []

    monkeypatch.setattr("convbench.models.describe_all", describe_all)
    monkeypatch.setattr(warnings, "filters", [("always", None, Warning, None, 0)])  # each run shows them again
    rc, _, err = cli("models", "--json")
    assert rc == 0 and err.strip().splitlines() == ["convbench: warning: convbench speaks"], err
    rc, _, err = cli("models", "--json", "--verbose")
    assert rc == 0 and err.strip().splitlines() == ["convbench: warning: a library talks",
                                                    "convbench: warning: convbench speaks"], err


def test_run_into_a_folder_another_process_holds(small_toml, tmp_path, fake_steps, fast_plots, cli):
    out = tmp_path / "out"
    hold = ("import sys, time\nfrom convbench.locks import output_lock\nwith output_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        rc, text, err = cli("run", small_toml, "--out", out, "--quiet")
        assert rc == 2 and text == "" and fake_steps.calls == {}
        [line] = err.strip().splitlines()
        assert f"output folder {out} is in use by PID {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    rc, _, _ = cli("run", small_toml, "--out", out, "--quiet")  # the holder is gone: the folder is free
    assert rc == 0 and (out / "report.html").is_file() and not (out / ".convbench.lock").exists()


def test_run_force_moves_the_other_study_aside(small_toml, tmp_path, fake_steps, fast_plots, cli):
    """--force never overwrites another study's files: its record and report move to superseded-NAME-TIME/."""
    from convbench.experiment import run

    out = tmp_path / "out"
    run(small_toml, out=out, progress=False)
    theirs = {name: (out / name).read_bytes() for name in ("study.json", "results.json", "report.md", "report.html")}
    steps_before = snapshot(out / "steps")
    other = tmp_path / "other.toml"
    other.write_text(small_toml.read_text().replace('name = "small"', 'name = "other"'))

    rc, _, err = cli("run", other, "--out", out, "--quiet")
    assert rc == 2 and "--force" in err and (out / "study.json").read_bytes() == theirs["study.json"]

    rc, _, _ = cli("run", other, "--out", out, "--quiet", "--force")
    assert rc == 0
    [aside] = out.glob("superseded-small-*")
    assert {name: (aside / name).read_bytes() for name in theirs} == theirs
    assert json.loads((out / "study.json").read_text())["name"] == "other"
    assert {k: v for k, v in snapshot(out / "steps").items() if k in steps_before} == steps_before  # steps stay


@pytest.fixture
def small_toml(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL_TOML, encoding="utf-8")
    return path


@pytest.fixture
def fake_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from experiment.fakes import FakeSteps

    monkeypatch.setenv("CONVBENCH_HISTORY", str(tmp_path / "history.sqlite"))
    return FakeSteps().install(monkeypatch)


@pytest.fixture
def fast_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    from experiment.fakes import blank_png

    from convbench.report import plots, study_plots

    for module, name in ((study_plots, "latency_ci"), (study_plots, "phases_stacked"),
                         (plots, "accuracy_vs_latency"), (plots, "size_vs_latency")):
        monkeypatch.setattr(module, name, blank_png)
