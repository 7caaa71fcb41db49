"""CLI commands: bench and compare (thin wrappers over convbench.bench.bench and convbench.report.compare)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from convbench.cli import app
from convbench.cli.helptext import listed, with_default
from convbench.vocabulary import BENCH_DEFAULTS, RUNTIMES

if TYPE_CHECKING:
    from convbench.bench import BenchResult
    from convbench.report.compare import Comparison


@app.command("bench")
def bench_command(
    model: Annotated[Path, typer.Argument(help="A .tflite, .onnx or .keras file written by convbench (with its "
                                                "card).")],
    runtime: Annotated[str | None, typer.Option(help=with_default(listed(RUNTIMES), "from the file suffix"))] \
        = None,
    threads: Annotated[int | None, typer.Option(help=with_default("Runtime threads", BENCH_DEFAULTS.threads))] \
        = None,
    runs: Annotated[int | None, typer.Option(help=with_default("Timed calls, at least", BENCH_DEFAULTS.runs))] \
        = None,
    min_seconds: Annotated[float | None, typer.Option(help=with_default(
        "Timed loop length, at least", BENCH_DEFAULTS.min_seconds))] = None,
    warmup: Annotated[int | None, typer.Option(help=with_default("Warm-up calls, at least",
                                                                 BENCH_DEFAULTS.warmup))] = None,
    warmup_seconds: Annotated[float | None, typer.Option(help=with_default(
        "Warm-up time, at least", BENCH_DEFAULTS.warmup_seconds))] = None,
    load_repeats: Annotated[int | None, typer.Option(help=with_default(
        "Fresh loads timed, each with a cold first call", BENCH_DEFAULTS.load_repeats))] = None,
    image: Annotated[Path | None, typer.Option(help="Real image file to time preprocessing on.")] = None,
    data: Annotated[str | None, typer.Option(help="Data spec whose first test image is used instead of "
                                                   "--image.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full result (raw samples included) "
                                                                  "here.")] = None,
    memory: Annotated[bool, typer.Option("--memory", help="Also the peak memory of a fresh process running the "
                                                          "model, measured after the timing.")] = False,
) -> None:
    """Time a model at batch 1: load, first inference, preprocessing and steady-state inference."""
    from convbench.bench import bench  # lazy: numpy and the runtimes are not needed for --help

    options = dict(runtime=runtime, threads=threads, runs=runs, min_seconds=min_seconds, warmup=warmup,
                   warmup_seconds=warmup_seconds, load_repeats=load_repeats, image=image, data=data, memory=memory)
    result = bench(model, **{k: v for k, v in options.items() if v is not None})
    _print_result(result)
    if json_out is not None:
        print(f"wrote {result.save(json_out)}")


@app.command("compare")
def compare_command(
    results: Annotated[list[Path], typer.Argument(help="Bench result JSON files (from `convbench bench --json`).")],
    out: Annotated[Path | None, typer.Option(help="Directory for comparison.csv/.md, pairs.csv and the "
                                                  "plots.")] = None,
) -> None:
    """Compare bench results: latency table, significance of each difference, plots."""
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
        table.add_row(phase, str(m.n), format_time(m.median, unit), format_time(m.p90, unit), ci,
                      f"{m.iqr_ratio:.1%}", "yes" if m.unstable else "")
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
    console.print(f"{env.get('cpu')}, {env.get('cores')} cores, {env.get('os')}; unstable = IQR/median > "
                  f"{UNSTABLE_IQR_RATIO:.0%}", highlight=False)


def _print_comparison(comparison: Comparison) -> None:
    table = Table(title="Steady-state inference, batch 1 (fastest first)")
    for column in ("#", "model", "median ms [95 % CI]", "p90 ms", "size", "params", "accuracy"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for r in comparison.rows:
        table.add_row(str(r["rank"]), r["model"] + (" (unstable)" if r["unstable"] else ""),
                      f"{r['median_ms']:.3f} [{r['ci95_low_ms']:.3f}, {r['ci95_high_ms']:.3f}]",
                      f"{r['p90_ms']:.3f}", f"{r['size_bytes']:,}" if r["size_bytes"] is not None else "–",
                      f"{r['params']:,}" if r["params"] is not None else "–",
                      f"{r['accuracy']:.2%}" if r["accuracy"] is not None else "–")
    console = _console()
    console.print(table)
    for pair in comparison.pairs:
        console.print(f"- {pair.statement}", highlight=False)


def _console() -> Console:
    """A console that does not squeeze tables into 80 columns when output goes to a file or pipe."""
    return Console() if sys.stdout.isatty() else Console(width=160)
