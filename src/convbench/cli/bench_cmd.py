"""CLI commands: bench and compare (thin wrappers over convbench.bench.bench and convbench.report.compare)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from convbench.checks import (
    MAX_LOAD_REPEATS,
    MAX_ROUNDS,
    MAX_THREADS,
    check_load_repeats,
    check_rounds,
    check_threads,
    output_file,
    output_folder,
)
from convbench.cli.app import app
from convbench.cli.helptext import listed, with_default
from convbench.errors import ConfigError, DataError, ModelError
from convbench.vocabulary import BENCH_DEFAULTS, DEFAULT_ROUNDS, DEFAULT_TARGET, RUNTIMES, TARGET_FORMS

MAX_CPUS = 65536  # CPU numbers --pin accepts: more than any machine has, and a list that fits in memory

if TYPE_CHECKING:
    from convbench.artifacts import ModelCard
    from convbench.bench import BenchResult
    from convbench.bench.profile import OpProfile
    from convbench.report.compare import Comparison


@app.command("bench")
def bench_command(
    models: Annotated[list[Path], typer.Argument(help="One or more .tflite, .onnx or .keras files written by "
                                                      "convbench (with their cards); several are timed side by side "
                                                      "in interleaved rounds.")],
    runtime: Annotated[str | None, typer.Option(help=with_default(listed(RUNTIMES), "from the file suffix"))] \
        = None,
    threads: Annotated[int | None, typer.Option(help=with_default(f"Runtime threads (at most {MAX_THREADS})",
                                                                  BENCH_DEFAULTS.threads))] = None,
    runs: Annotated[int | None, typer.Option(help=with_default("Timed calls, at least", BENCH_DEFAULTS.runs))] \
        = None,
    min_seconds: Annotated[float | None, typer.Option(help=with_default(
        "Timed loop length, at least", BENCH_DEFAULTS.min_seconds))] = None,
    warmup: Annotated[int | None, typer.Option(help=with_default("Warm-up calls, at least",
                                                                 BENCH_DEFAULTS.warmup))] = None,
    warmup_seconds: Annotated[float | None, typer.Option(help=with_default(
        "Warm-up time, at least", BENCH_DEFAULTS.warmup_seconds))] = None,
    load_repeats: Annotated[int | None, typer.Option(help=with_default(
        f"Fresh loads timed, each with a cold first call (at most {MAX_LOAD_REPEATS})",
        BENCH_DEFAULTS.load_repeats))] = None,
    image: Annotated[Path | None, typer.Option(help="Real image file to time preprocessing on.")] = None,
    data: Annotated[str | None, typer.Option(help="Data spec whose first test image is used instead of "
                                                   "--image.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full result (raw samples included) "
                                                                  "here.")] = None,
    memory: Annotated[bool, typer.Option("--memory", help="Also the peak memory of a fresh process running the "
                                                          "model, measured after the timing.")] = False,
    rounds: Annotated[int | None, typer.Option(help=with_default(
        f"Interleaved rounds of the steady-state loop, each in a fresh shuffled order (at most {MAX_ROUNDS})",
        f"1 for one model, {DEFAULT_ROUNDS} for several"))] = None,
    pin: Annotated[str | None, typer.Option(help="Run on these CPUs only, e.g. 0 or 0,1 or 0-3 (recorded).")] = None,
    profile_ops: Annotated[bool, typer.Option("--profile-ops", help="Also a per-operator table from the runtime's "
                                                                    "own profiler, in a separate run after the "
                                                                    "timing (with --json: Model Explorer node data "
                                                                    "beside it).")] = False,
    on: Annotated[str | None, typer.Option("--on", help=with_default(
        "Where to time: " + ", ".join(TARGET_FORMS), DEFAULT_TARGET))] = None,
    path_breakdown: Annotated[bool, typer.Option("--paths", help="Early-exit files (the single file or the chained "
                                                                 "stem): also time each path and each part alone, "
                                                                 "after the timing, and show where the saving "
                                                                 "short of the ideal goes.")] = False,
) -> None:
    """Time models at batch 1: load, first inference, preprocessing and steady-state inference."""
    from convbench.bench import BenchCase  # lazy: numpy and the runtimes
    from convbench.bench.targets import bench_on, parse_target

    spec = parse_target(on)  # a bad target is a one-line error before any work
    ops_there = profile_ops and spec.kind != DEFAULT_TARGET  # adb: benchmark_model's own per-op tables

    _check_before_timing(models, json_out, image, data, threads, rounds, load_repeats,
                         dict(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds))
    if path_breakdown:
        for model in models:
            _early_exit_card(model)
    targets = [BenchCase(m, runtime, threads if threads is not None else BENCH_DEFAULTS.threads) for m in models]
    options = dict(runs=runs, min_seconds=min_seconds, warmup=warmup, warmup_seconds=warmup_seconds,
                   load_repeats=load_repeats, image=image, data=data)
    default_rounds = 1 if len(models) == 1 else DEFAULT_ROUNDS
    results = bench_on(spec, targets, rounds=default_rounds if rounds is None else rounds, memory=memory,
                       pin=parse_cpus(pin), **({"profile_ops": True} if ops_there else {}),
                       **{k: v for k, v in options.items() if v is not None})
    for result in results:
        _print_result(result)
    if len(results) > 1:  # timed side by side: say which is faster, decided on their rounds
        from convbench.report.compare import compare  # lazy: scipy and matplotlib

        _print_comparison(compare(results))
    paths: list[Path | None] = [None] * len(results)
    if json_out is not None:
        paths = [json_out] if len(results) == 1 else \
            [json_out / f"{i}-{Path(r.model['path']).name}.json" for i, r in enumerate(results, 1)]
        for result, path in zip(results, paths, strict=True):
            print(f"wrote {result.save(path)}")
    if path_breakdown:  # after every timing, as the profile: each breakdown is a timing run of its own
        for target in targets:
            _paths(target.model, target.threads, data, rounds or DEFAULT_ROUNDS)
    if profile_ops and not ops_there:  # after every timing: the profiled runs never share the cores with a timed one
        for target, path in zip(targets, paths, strict=True):
            _profile(target.model, target.runtime, target.threads,
                     None if path is None else path.with_suffix(".model_explorer.json"))


@app.command("compare")
def compare_command(
    results: Annotated[list[Path], typer.Argument(help="Bench result JSON files (from `convbench bench --json`).")],
    out: Annotated[Path | None, typer.Option(help="Directory for comparison.csv/.md, pairs.csv and the "
                                                  "plots.")] = None,
) -> None:
    """Compare bench results: latency table, a verdict on each difference (on their interleaved rounds), plots."""
    if out is not None:  # before the results are read and compared
        output_folder(out, "--out")
    from convbench.report.compare import compare  # lazy: matplotlib and scipy are not needed for --help

    comparison = compare(results, out=out)
    _print_comparison(comparison)
    for path in comparison.files.values():
        print(f"wrote {path}")


def _print_result(result: BenchResult) -> None:
    from convbench.bench.stats import UNSTABLE_IQR_RATIO, format_time, select_unit  # lazy: imports numpy

    model, rt, env = result.model, result.runtime, result.environment
    gflops = result.attained_gflops
    table = Table(title=f"{result.label} — batch 1, {model['size_bytes']:,} bytes, sha256 {model['sha256'][:12]}")
    for column in ("phase", "n", "median", "p90", "95 % CI of median", "IQR/median", "unstable"):
        table.add_column(column, justify="left" if column == "phase" else "right", no_wrap=True)
    for phase, m in result.phases.items():
        unit, _ = select_unit(m.median)
        ci = f"{format_time(m.ci95.low, unit).split()[0]}–{format_time(m.ci95.high, unit)}"
        if m.ci95.coverage < 0.95:  # too few samples for 95 %: say what [min, max] covers
            ci += f" ({m.ci95.coverage:.0%})"
        if m.metadata.get("aggregates_only"):  # the target's tool reported aggregates, not samples
            ci = "not available (aggregates only)"
        table.add_row(phase, str(m.n), format_time(m.median, unit), format_time(m.p90, unit), ci,
                      f"{m.iqr_ratio:.1%}", "yes" if m.unstable else "")
    if result.image.get("note"):  # e.g. the card's data could not be loaded: preprocessing timed on another image
        print(f"note: {result.image['note']}", file=sys.stderr)
    console = _console()
    console.print(table)
    console.print(f"{rt['name']} {rt['version']}, {rt['threads']} thread(s), delegate {rt['delegate']}; "
                  f"input {model['input_shape']}, params {model['params']}, MACs {model['macs']}"
                  + (f", {gflops:.2f} GFLOP/s attained" if gflops else "")
                  + (f", accuracy {model['accuracy']:.4f}" if model.get("accuracy") is not None else ""))
    if result.memory is not None:
        m = result.memory
        console.print(f"peak memory {m['peak_bytes'] / 1e6:,.1f} MB in a fresh process ({m['model_bytes'] / 1e6:,.1f} "
                      f"MB of it for the model, {m['runs']} runs)", highlight=False)
    console.print(f"{env.get('target', DEFAULT_TARGET)}: {env.get('cpu')}, {env.get('cores')} cores, {env.get('os')}; "
                  f"unstable = IQR/median > "
                  f"{UNSTABLE_IQR_RATIO:.0%}", highlight=False)


def _profile(model: Path, runtime: str | None, threads: int, node_data: Path | None) -> None:
    """Print the top ops of ``model``'s profile (one line when the runtime has none); write its node data."""
    from convbench.bench.profile import OpProfileUnavailable, profile_ops  # lazy: numpy and the runtimes
    from convbench.report.op_profile import write_model_explorer

    try:
        profile = profile_ops(model, runtime=runtime, threads=threads)
    except OpProfileUnavailable as e:
        print(e)
        return
    _print_profile(profile)
    if node_data is not None:
        print(f"wrote {write_model_explorer(profile, node_data)} (Model Explorer node data)")


def _early_exit_card(model: Path) -> ModelCard:
    """The card of a deployed early-exit file, else a one-line :class:`ModelError` naming it (for ``--paths``)."""
    from convbench.artifacts import read_card

    card = read_card(model)
    if card.early_exit is None or card.early_exit.form is None:
        raise ModelError(f"--paths: {model} is not an exported early-exit file (the single file or the chained stem)")
    return card


def _paths(model: Path, threads: int, data: str | None, rounds: int) -> None:
    """Print the per-path breakdown of an early-exit file at its training mix's redundancy."""
    from convbench.early_exit.paths import breakdown_for_files, candidate_images  # lazy: runtimes, TF
    from convbench.report.early_exit_paths import missing_table, timings_table

    card = _early_exit_card(model)
    breakdown = breakdown_for_files([model], candidate_images(card, data), threads=threads, rounds=rounds)
    redundancy = card.early_exit.mix.get("redundancy") or 0.5  # the training mix's, else an even mix
    for table in (timings_table(breakdown), missing_table([breakdown.analyse(card.early_exit.form, redundancy)])):
        rich_table = Table(title=table.caption)
        for column, align in zip(table.columns, table.alignment(), strict=True):
            rich_table.add_column(column, justify="left" if align == "l" else "right")
        for row in table.rows:
            rich_table.add_row(*row)
        _console().print(rich_table)


def _print_profile(profile: OpProfile, top: int = 10) -> None:
    table = Table(title=f"Where the time goes: {Path(profile.model).name} in {profile.runtime} {profile.version}, "
                        f"{profile.threads} thread(s), {profile.runs} profiled runs (top {top} of "
                        f"{len(profile.nodes)} nodes)")
    for column in ("op type", "node", "ms per run", "share"):
        table.add_column(column, justify="right" if column in ("ms per run", "share") else "left")
    for op in profile.top(top):
        table.add_row(op.op_type, op.node, f"{profile.per_run_ms(op):.4f}", f"{op.share:.1%}")
    console = _console()
    console.print(table)
    console.print("by op type: " + ", ".join(f"{op.op_type} {op.share:.1%}" for op in profile.by_op_type()),
                  highlight=False)


def _check_before_timing(models: list[Path], json_out: Path | None, image: Path | None, data: str | None,
                         threads: int | None, rounds: int | None, load_repeats: int | None,
                         protocol: dict[str, float | None]) -> None:
    """What can fail after the timing (the JSON path) or before it (options, files), checked before it starts."""
    from convbench.bench.timer import validate_protocol
    from convbench.data import check_spec

    validate_protocol(**{k: v for k, v in protocol.items() if v is not None})
    if threads is not None:
        check_threads(threads)
    if rounds is not None:
        check_rounds(rounds)
    if load_repeats is not None:
        check_load_repeats(load_repeats)
    for model in models:
        if not model.is_file():
            raise ModelError(f"model file not found: {model}" if not model.exists() else
                             f"{model}: is a folder; give a .tflite, .onnx or .keras file")
    if image is not None and not image.is_file():
        raise DataError(f"--image {image}: no such file")
    if data is not None:
        check_spec(data)
    if json_out is None:
        return
    if len(models) == 1:
        output_file(json_out, "--json")
    elif json_out.suffix and not json_out.is_dir():
        raise ConfigError(f"--json {json_out}: with several models give a folder (one JSON file per model)")
    else:
        output_folder(json_out, "--json")


def parse_cpus(text: str | None) -> list[int] | None:
    """``"0,2-3"`` → ``[0, 2, 3]``; :class:`ConfigError` naming the text when it is not such a list."""
    if text is None:
        return None
    cpus: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low, high = int(first), int(last or first)
            if not 0 <= low <= high < MAX_CPUS:  # a reversed range would pin nothing; a huge one fills memory
                raise ValueError(part)
            cpus += range(low, high + 1)
    except ValueError:
        raise ConfigError(f"--pin {text!r}: expected CPU numbers like 0 or 0,1 or 0-3") from None
    return cpus


def _print_comparison(comparison: Comparison) -> None:
    from convbench.report import formats as fmt  # lazy, as every report import here

    table = Table(title="Steady-state inference, batch 1 (fastest first)")
    for column in ("#", "model", "median ms [95 % CI]", "p90 ms", "size", "params", "accuracy"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for r in comparison.rows:
        table.add_row(str(r["rank"]), r["model"] + (" (unstable)" if r["unstable"] else ""),
                      fmt.ms_ci(r),
                      f"{r['p90_ms']:.3f}", f"{r['size_bytes']:,}" if r["size_bytes"] is not None else "–",
                      f"{r['params']:,}" if r["params"] is not None else "–",
                      f"{r['accuracy']:.2%}" if r["accuracy"] is not None else "–")
    console = _console()
    for note in comparison.busy:  # before anything else: no verdict below is clear
        console.print(f"The machine was busy while timing: {note}; no difference is called clear.", highlight=False)
    console.print(table)
    for pair in comparison.pairs:
        console.print(f"- {pair.statement}", highlight=False)


def _console() -> Console:
    """A console that does not squeeze tables into 80 columns when output goes to a file or pipe."""
    return Console() if sys.stdout.isatty() else Console(width=160)
