"""CLI commands: ``convbench early-exit train|eval|points`` (thin wrappers over the early-exit library)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convbench.checks import (
    MAX_INPUT_SIZE,
    MAX_THREADS,
    TrainingOptions,
    calibration_goal,
    check_width,
    cue_names,
    integer_in,
    number_in,
    output_folder,
)
from convbench.cli.app import app
from convbench.cli.helptext import listed, with_default
from convbench.cli.train_cmd import check_before_loading
from convbench.errors import ConfigError
from convbench.vocabulary import (
    CUES,
    DEFAULT_EXIT_HEAD,
    DEFAULT_OUTLIER_SHARE,
    DEFAULT_THRESHOLD,
    DEFAULT_WIDTH,
    EARLY_EXIT_FORMS,
    TRAIN_DEFAULTS,
)

if TYPE_CHECKING:
    from convbench.early_exit.training import EarlyExitTrainResult

sub = typer.Typer(no_args_is_help=True, help="Early-exit networks: a backbone with an exit for redundant images.")
AUTO = "auto"  # --exit-after auto: sweep every exit point of the backbone (convbench.early_exit.placement)
app.add_typer(sub, name="early-exit")


@sub.command("train")
def train_command(
    main: str = typer.Option(..., "--main", help="Data spec of the classes of interest (NAME, NAME:PATH?k=v)."),
    redundant: Annotated[list[str] | None, typer.Option(
        "--redundant", help="Data spec of the redundant images (no main class); repeat it to train on several "
                            "sources [required].")] = None,
    redundant_share: Annotated[list[float] | None, typer.Option(
        "--redundant-share", help="Each --redundant source's share of the redundant class, in order [default: "
                                  "equal shares].")] = None,
    augment_cues: str = typer.Option("none", "--augment-cues", help=f"Cues to vary at random in the training "
                                                                  f"images, comma-separated: some of "
                                                                  f"{', '.join(CUES)}, or all [default: none]."),
    outlier_exposure: str = typer.Option(None, "--outlier-exposure", help="Data spec of a generic set whose images "
                                                                          "join the redundant class."),
    outlier_share: float = typer.Option(None, "--outlier-share", help=with_default(
        "The outlier-exposure set's share of the redundant class", DEFAULT_OUTLIER_SHARE)),
    max_false_exit: float = typer.Option(None, "--max-false-exit", help="Calibrate the threshold on validation: at "
                                                                        "most this share of main images exits."),
    exit_rate: float = typer.Option(None, "--exit-rate", help="Calibrate the threshold on validation: at most this "
                                                              "share of all images exits."),
    calibration_confidence: float = typer.Option(None, "--calibration-confidence", help="Certify the calibration "
                                                 "goal for new images at this confidence (e.g. 0.95), not just on "
                                                 "the images counted."),
    calibration_images: int = typer.Option(None, "--calibration-images", help="Also count this many main images "
                                           "the capped training mix (--max-train) leaves out, for "
                                           "--max-false-exit [default: 0]."),
    out: str = typer.Option(..., "--out", help="Output folder: early_exit/, baseline/ and training.json."),
    redundancy: float = typer.Option(None, "--redundancy", help="Redundant share of every split, in [0, 1) "
                                                                "[default: all images of both sets]."),
    width: float = typer.Option(None, "--width", help=with_default("Width multiplier α of both networks",
                                                                   DEFAULT_WIDTH)),
    exit_after: Annotated[list[str] | None, typer.Option(
        "--exit-after", help=f"Exit point the exit follows (`convbench early-exit points BACKBONE` lists them); "
                             f"repeat it, or give {AUTO!r} for all, to train each, time each as deployed and keep "
                             f"the fastest meeting --min-accuracy [default: block1].")] = None,
    exit_head: str = typer.Option(None, "--exit-head", help=f"Hidden Dense units of the exit block before width "
                                                            f"scaling, comma-separated, or 'none' for MaxPool, "
                                                            f"Flatten and the 2-way softmax alone [default: "
                                                            f"{','.join(map(str, DEFAULT_EXIT_HEAD))}]."),
    min_accuracy: float = typer.Option(None, "--min-accuracy", help="Placement sweep: validation accuracy a point "
                                                                    "must reach [default: the baseline's]."),
    runtime_form: str = typer.Option(None, "--runtime-form", help=with_default(
        f"Placement sweep: the deployed form timed, {listed(EARLY_EXIT_FORMS)}", EARLY_EXIT_FORMS[0])),
    threads: int = typer.Option(None, "--threads", help="Placement sweep: LiteRT threads [default: 1]."),
    repeats: int = typer.Option(None, "--repeats", help="Placement sweep: timed calls per image [default: 3]."),
    limit: int = typer.Option(None, "--limit", help="Placement sweep: validation images timed per point "
                                                    "[default: 200]."),
    backbone: str = typer.Option(None, "--backbone", help="Backbone architecture [default: vgg19]."),
    input_size: int = typer.Option(None, "--input-size", help="Square input side [default: the backbone's, 32]."),
    channels: int = typer.Option(None, "--channels", help="Input channels, 1 or 3 [default: the main set's]."),
    invert_redundant: bool = typer.Option(False, "--invert-redundant", help="Invert the redundant images' "
                                                                             "polarity before mixing."),
    max_train: int = typer.Option(None, "--max-train", help="Cap the training mix (stratified subset)."),
    dropout: float = typer.Option(None, "--dropout", help="Dropout after the hidden Dense layers of both "
                                                          "networks [default: 0.0]."),
    epochs: int = typer.Option(None, "--epochs", help=with_default("Most epochs to train", TRAIN_DEFAULTS.epochs)),
    batch_size: int = typer.Option(None, "--batch-size", help=with_default("Images per step",
                                                                           TRAIN_DEFAULTS.batch_size)),
    patience: int = typer.Option(None, "--patience", help=with_default("Early-stopping patience in epochs",
                                                                       TRAIN_DEFAULTS.patience)),
    seed: int = typer.Option(None, "--seed", help=with_default("Seed of the mix, splits, weights and order",
                                                               TRAIN_DEFAULTS.seed)),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the checkpoints in OUT."),
) -> None:
    """Train the early-exit model and its baseline (the same backbone without the exit) on MAIN + REDUNDANT."""
    head = None if exit_head is None else parse_exit_head(exit_head)
    cues = cue_names(augment_cues)
    training = _given({"width": width, "input_size": input_size, "channels": channels, "epochs": epochs,
                       "batch_size": batch_size, "patience": patience, "seed": seed})
    check_before_loading(training, out, main, *(redundant or ()), outlier_exposure)  # before Keras is imported
    _check_shares(redundancy=redundancy, dropout=dropout)
    goal = calibration_goal(max_false_exit, exit_rate, calibration_confidence, calibration_images or 0)
    _check_train_numbers(outlier_share, redundant_share or [], max_train, min_accuracy)
    timing = _check_timing(runtime_form, repeats, limit, threads)
    from convbench.early_exit.placement import PlacementOptions
    from convbench.early_exit.placement_timing import time_placement  # lazy: keras takes seconds to import
    from convbench.early_exit.training import MixOptions, NetworkOptions, OpenWorldOptions, train_early_exit

    points = exit_after[0] if exit_after and len(exit_after) == 1 else exit_after or None
    network = NetworkOptions(**_given({"backbone": backbone, "exit_after": points, "exit_head": head,
                                       "dropout": dropout}),
                             placement=PlacementOptions(min_accuracy, **timing, timer=time_placement))
    open_world = OpenWorldOptions(cues, outlier_exposure, **_given({"outlier_share": outlier_share}))
    redundant = redundant or []  # none: the library's one-line error names the missing source
    result = train_early_exit(main, redundant if len(redundant) != 1 else redundant[0], out=out, network=network,
                              training=TrainingOptions(**training), open_world=open_world, calibration=goal,
                              mix=MixOptions(redundancy, redundant_share or None, invert_redundant, max_train),
                              resume=resume)
    _print_training(result)


def _check_train_numbers(outlier_share: float | None, redundant_shares: list[float], max_train: int | None,
                         min_accuracy: float | None) -> None:
    """``early-exit train``'s shares, training cap and placement goal, each checked when given."""
    if outlier_share is not None:
        number_in("outlier_share", outlier_share, 0.0, 1.0, low_open=True, high_open=True)
    for share in redundant_shares:
        number_in("redundant_share", share, 0.0, math.inf, low_open=True)
    if max_train is not None:
        integer_in("max_train", max_train, 2)
    if min_accuracy is not None:
        number_in("min_accuracy", min_accuracy, 0.0, 1.0)


def _print_training(result: EarlyExitTrainResult) -> None:
    """What ``early-exit train`` prints: the sweep if any, both models' test figures and the calibration."""
    if "placement" in result.report:
        _print_placement(result.report["placement"])
    ee, base = result.report["early_exit"], result.report["baseline"]
    metrics = ee["test_metrics"]
    print(f"early exit: test accuracy {ee['test_accuracy']:.4f}, exit accuracy {metrics['exit_accuracy']:.4f} "
          f"(best epoch {ee['best_epoch']} of {ee['epochs_run']}) → {result.model_path}")
    if "calibration" in result.report:
        c = result.report["calibration"]
        held_out = f" + {c['held_out_main_images']:,} held-out main images" if c.get("held_out_main_images") else ""
        certified = f", certified at {c['confidence']:g} (bound {c['upper_95']:.3%})" if c.get("confidence") else ""
        print(f"threshold {c['threshold']:.6g} calibrated on validation{held_out} for {c['goal']} ≤ {c['target']:g}"
              f"{certified}: {c['false_exit_rate']:.2%} of main images exit, {c['exit_recall']:.2%} of redundant ones")
    print(f"baseline:   test accuracy {base['test_accuracy']:.4f} (best epoch {base['best_epoch']} of "
          f"{base['epochs_run']}) → {result.baseline_path}")


def parse_exit_head(text: str) -> tuple[int, ...]:
    """``--exit-head``'s value: ``"512,512"`` → ``(512, 512)``, ``"none"`` → ``()``; else a one-line error."""
    if text.strip().lower() == "none":
        return ()
    try:
        units = tuple(int(part) for part in text.split(","))
    except ValueError:
        units = ()
    if not units or min(units) < 1:
        raise ConfigError(f"--exit-head must be positive integers separated by commas, or 'none'; got {text!r}")
    return units


@sub.command("eval")
def eval_command(
    directory: str = typer.Argument(..., help="Folder written by `convbench early-exit train`."),
    main: str = typer.Option(None, "--main", help="Data spec of the main set [default: as trained]."),
    redundant: Annotated[list[str] | None, typer.Option(
        "--redundant", help="Data spec of a redundant set; repeat it to evaluate on each alone [default: as "
                            "trained].")] = None,
    redundancy: float = typer.Option(None, "--redundancy", help="Redundant share of the test mix, in [0, 1) "
                                                                "[default: as trained]."),
    threshold: float = typer.Option(None, "--threshold", help="Exit when P(redundant) ≥ this, in (0, 1) [default: "
                                                              f"the calibrated threshold, else {DEFAULT_THRESHOLD}]."),
    sweep: bool = typer.Option(False, "--sweep", help="Also time redundancy 0 … 0.9, sweep thresholds, and plot."),
    runtime_form: str = typer.Option(None, "--runtime-form", help=with_default(
        f"{listed(EARLY_EXIT_FORMS)}: one .tflite with an IF op, or two chained segments", EARLY_EXIT_FORMS[0])),
    repeats: int = typer.Option(None, "--repeats", help="Timed calls per image [default: 3]."),
    limit: int = typer.Option(None, "--limit", help="Time at most this many images per test mix."),
    threads: int = typer.Option(None, "--threads", help="LiteRT threads [default: 1]."),
    out: str = typer.Option(None, "--out", help="Folder for the exported files, eval.json and plots "
                                                "[default: DIRECTORY]."),
) -> None:
    """Time the early-exit model against its baseline at batch 1 in LiteRT on the test mix; print the table."""
    if not Path(directory).exists():
        raise ConfigError(f"{directory}: no such folder; expected the folder written by `convbench early-exit train`")
    _check_shares(redundancy=redundancy)
    if out is not None:
        output_folder(out, "--out")
    if threshold is not None:
        number_in("threshold", threshold, 0.0, 1.0, low_open=True, high_open=True)
    _check_timing(runtime_form, repeats, limit, threads)
    from convbench.early_exit.evaluation import evaluate_early_exit  # lazy: the runtimes and keras
    from convbench.report.study_plots import sweep_plots  # lazy: matplotlib

    options = {"redundancy": redundancy, "threshold": threshold, "form": runtime_form, "repeats": repeats,
               "limit": limit, "threads": threads, "out": out}
    result = evaluate_early_exit(directory, main, redundant or None, sweep=sweep, plot_sweep=sweep_plots,
                                 **_given(options))
    _print_result(result)


def _print_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"early exit vs baseline ({result['runtime']}, {result['form']} form, batch 1, "
                        f"threshold {result['threshold']:g})")
    for column in ("model", "redundancy %", "loss", "accuracy", "exit accuracy", "total time (s)",
                   "per-image time (ms)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in result["rows"]:
        table.add_row(row["model"], f"{100 * row['redundancy']:.1f}", f"{row['loss']:.4f}",
                      f"{100 * row['accuracy']:.2f} %", f"{100 * row['exit_accuracy']:.2f} %",
                      f"{row['total_s']:.3f}", f"{row['time_ms_per_image']:.3f}")
    console = Console(width=120)
    console.print(table)
    timing, analytic, paths = result["timing"], result["analytic"], result["paths"]
    ratio = analytic["saving_vs_ideal"]
    versus = f", measured/ideal {ratio:.2f}" if ratio is not None else ""
    console.print(f"saving {100 * analytic['saving']:.1f} % (analytic ideal {100 * analytic['ideal_saving']:.1f} %"
                  f"{versus}); {timing['exit_path_images']} images took the exit path, {timing['full_path_images']} "
                  f"the full path", highlight=False)
    console.print("medians: " + ", ".join(f"{name.replace('_', ' ')} {m['median_ms']:.3f} ms" for name, m in
                                          paths.items()), highlight=False)
    if len(result.get("by_source", ())) > 1:
        sources = Table(title="the exit on each redundant source (its own test mix)")
        for column in ("tested on", "exit accuracy", "precision", "recall", "main exits", "AUROC", "FPR@95TPR",
                       "saving"):
            sources.add_column(column, justify="left" if column == "tested on" else "right")
        for row in result["by_source"]:
            sources.add_row(row["source"], *(_maybe_percent(row[k]) for k in (
                "exit_accuracy", "exit_precision", "exit_recall", "false_exit_rate")),
                *(f"{row[k]:.3f}" if row[k] is not None else "–" for k in ("auroc", "fpr_at_95_tpr")),
                _maybe_percent(row["saving"]))
        console.print(sources)
    for plot in result.get("sweep", {}).get("plots", []):
        console.print(f"plot: {plot}", highlight=False)


def _check_timing(form: str | None, repeats: int | None, limit: int | None, threads: int | None) -> dict[str, Any]:
    """The timing options given (form, repeats, limit, threads), checked; the unset ones left out."""
    if form is not None and form not in EARLY_EXIT_FORMS:
        raise ConfigError(f"form must be one of {', '.join(EARLY_EXIT_FORMS)}, got form={form!r}")
    given = {"form": form, "repeats": repeats, "limit": limit, "threads": threads}
    for name, low, high in (("repeats", 1, None), ("limit", 2, None), ("threads", 1, MAX_THREADS)):
        if given[name] is not None:
            integer_in(name, given[name], low, high)
    return _given(given)


def _print_placement(sweep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"exit placement ({sweep['form']} form, batch 1, {sweep['threads']} thread(s), "
                        f"{sweep['images']} validation images; goal: validation accuracy ≥ "
                        f"{100 * sweep['min_accuracy']:.2f} %, {sweep['goal']})")
    for column in ("exit after", "stem share", "exit share", "threshold", "val accuracy", "val exit accuracy",
                   "val AUROC", "exits (timed)", "time per image (ms)", "chosen"):
        table.add_column(column, justify="left" if column == "exit after" else "right")
    for row in sweep["rows"]:
        table.add_row(row["exit_after"], f"{row['stem_share']:.3f}", f"{row['exit_share']:.3f}",
                      f"{row['threshold']:.4g}", _maybe_percent(row["val_accuracy"]),
                      _maybe_percent(row["val_exit_accuracy"]),
                      f"{row['val_auroc']:.3f}" if row["val_auroc"] is not None else "–",
                      _maybe_percent(row["exit_path_share"]), f"{row['time_ms_per_image']:.3f}",
                      "✓" if row["chosen"] else ("" if row["meets_goal"] else "below goal"))
    Console(width=140).print(table)


@sub.command("points")
def points_command(
    backbone: str = typer.Argument(..., help="A registered backbone (`convbench models` lists them)."),
    input_size: int = typer.Option(None, "--input-size", help="Square input side [default: the backbone's]."),
    channels: int = typer.Option(1, "--channels", help="Input channels, 1 or 3."),
    width: float = typer.Option(None, "--width", help=with_default("Width multiplier α", DEFAULT_WIDTH)),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the exit points BACKBONE declares: the layer each exit follows, its feature map and the MAC split."""
    if input_size is not None:
        integer_in("input_size", input_size, 1, MAX_INPUT_SIZE)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got channels={channels!r}")
    if width is not None:
        check_width(width)
    import dataclasses

    from convbench.models import defaults
    from convbench.models.early_exit import describe_exit_points  # lazy: keras takes seconds to import

    side = input_size or defaults(backbone).input_size
    rows = describe_exit_points(backbone, (side, side, channels), width or DEFAULT_WIDTH)
    if as_json:
        print(json.dumps([{**dataclasses.asdict(row), "stem_share": row.macs.stem_share,
                           "exit_share": row.macs.exit_share} for row in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"exit points of {backbone} at {side}x{side}x{channels}, width {width or DEFAULT_WIDTH:g} "
                        f"(MACs per image)")
    for column in ("exit after", "block", "layer", "features", "stem MACs", "exit MACs", "rest MACs", "stem share"):
        table.add_column(column, justify="right" if "MACs" in column or "share" in column else "left")
    for row in rows:
        table.add_row(row.name, row.block, row.layer, "x".join(map(str, row.features)), f"{row.macs.stem:,}",
                      f"{row.macs.exit_head:,}", f"{row.macs.rest:,}", f"{row.macs.stem_share:.3f}")
    Console(width=140).print(table)


def _maybe_percent(value: float | None) -> str:
    return f"{100 * value:.2f} %" if value is not None else "–"


def _check_shares(**shares: float | None) -> None:
    """Each share given (redundancy, dropout) in [0, 1)."""
    for name, value in shares.items():
        if value is not None:
            number_in(name, value, 0.0, 1.0, high_open=True)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """Options the user set (``None`` means "use the library default")."""
    return {k: v for k, v in options.items() if v is not None}
