"""CLI commands: run and history (thin wrappers over :func:`convbench.experiment.run` and ``history``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from convbench.checks import integer_in, one_of, output_file, output_folder
from convbench.cli.app import app
from convbench.cli.helptext import with_default
from convbench.report import formats as fmt
from convbench.vocabulary import (
    DEFAULT_EXPERIMENT,
    DEFAULT_HISTORY,
    HISTORY_ENV,
    RESULTS_ROOT,
    RUNTIMES,
    quantize_label,
)

HISTORY_HELP = with_default("SQLite results history", f"${HISTORY_ENV}, else {DEFAULT_HISTORY}")


@app.command("run")
def run_command(
    experiment: Annotated[str | None, typer.Argument(
        help=with_default("Experiment TOML file, or a shipped experiment's name", DEFAULT_EXPERIMENT))] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=with_default("Output folder",
                                                                              f"{RESULTS_ROOT}/STUDY-NAME"))] = None,
    data: Annotated[list[str] | None, typer.Option(
        "--data", help="Override a data path: main=PATH or redundant=PATH (or NAME:PATH). Repeatable.")] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a setting: KEY=VALUE, e.g. train.epochs=3 or models[0].width=0.5. Repeatable.")] \
        = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the study saved in --out with its saved settings (finished steps are reused on "
                         "every run).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Take over an output folder holding another study: its record, report, results and log "
                        "move to OUT/superseded-NAME-TIME/, its step folders stay (nothing is deleted or "
                        "overwritten).")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate and print the plan (and what is cached); run nothing.")] = False,
    history: Annotated[Path | None, typer.Option("--history", help=HISTORY_HELP)] = None,
    no_history: Annotated[bool, typer.Option("--no-history", help="Do not append the results to the history.")] \
        = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress bars or log on the terminal (OUT/run.log is still written).")] = False,
) -> None:
    """Run a whole study: train, export, check parity, time, compare, and write the report."""
    if out is not None:  # checked before the study pipeline (and TensorFlow) is imported
        output_folder(out, "--out")
    if history is not None and not no_history:
        output_file(history.expanduser(), "--history")
    from convbench.experiment import run  # lazy: the study pipeline is not needed for --help
    from convbench.experiment.files import parse_assignments

    study = run(experiment, out=out, data=parse_assignments(data, "--data"),
                settings=parse_assignments(settings, "--set"), resume=resume, force=force, dry_run=dry_run,
                history=history, record_history=not no_history, progress=not quiet)
    if study.dry_run:
        _print_plan(study)
        return
    print(study.results["recommendation"]["sentence"] if study.results["latency"] else
          f"study {study.experiment.name} done")
    print(f"report: {study.out / 'report.html'} (also report.md, results.json, results.csv)")
    if study.failed:
        print(f"convbench: {len(study.failed)} step(s) failed and {len(study.skipped)} were skipped; see the "
              f"report's Problems section", file=sys.stderr)
        raise typer.Exit(1)


def _print_plan(study: Any) -> None:
    table = Table(title=f"study {study.experiment.name}: plan ({study.out})")
    for column in ("#", "step", "what", "status"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for number, step in enumerate(study.plan, 1):
        table.add_row(str(number), step.kind.replace("_", " "), step.name,
                      "cached" if step.key in study.cached else "to run")
    console = _console()
    console.print(table)
    console.print(f"{len(study.cached)} of {len(study.plan)} steps cached; {len(study.plan) - len(study.cached)} "
                  f"to run. Nothing was run (--dry-run).", highlight=False)


@app.command("history")
def history_command(
    arch: Annotated[str | None, typer.Option("--arch", help="Only this architecture.")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset (digits, fruits360 …).")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Only this study (experiment name).")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", help=f"Only this runtime ({', '.join(RUNTIMES)}).")] \
        = None,
    limit: Annotated[int, typer.Option("--limit", help="Most rows to show, newest first.")] = 50,
    history: Annotated[Path | None, typer.Option("--history", help=HISTORY_HELP)] = None,
) -> None:
    """Show past results from the SQLite history, newest first."""
    integer_in("limit", limit, 1)
    if runtime is not None:
        from convbench.runtime import list_runtimes  # the registry: cheap, the runtimes load lazily

        one_of("runtime", runtime, list_runtimes())
    from convbench.experiment import history as read_history  # lazy: the study pipeline is not needed for --help

    rows = read_history(arch=arch, dataset=dataset, study=study, runtime=runtime, limit=limit, path=history)
    table = Table(title=f"results history ({len(rows)} row{'s' * (len(rows) != 1)}, newest first)")
    for column in ("time", "study", "model", "file", "runtime", "median ms [95 % CI]", "p90 ms", "accuracy",
                   "size", "cpu"):
        table.add_column(column, justify="right" if column in ("median ms [95 % CI]", "p90 ms", "accuracy", "size")
                         else "left")
    for r in rows:
        table.add_row(*_history_cells(r))
    _console().print(table)


def _console() -> Console:
    """The terminal's width on a terminal; wide lines in a pipe or file (tables are not cut to 80 columns)."""
    return Console() if sys.stdout.isatty() else Console(width=200)


def _history_cells(r: dict[str, Any]) -> list[str]:
    def ms(key: str) -> str:
        return "–" if r.get(key) is None else f"{r[key]:.3f}"

    if r.get("kind") == "early_exit":
        file, runtime = f"early exit ({r.get('variant', '')})", f"{r.get('runtime', '')} t{r.get('threads', '')}"
        median = ms("time_ms_per_image")
    else:
        file = f"{r.get('format')} {quantize_label(r.get('quantize'))}"
        runtime = f"{r.get('runtime')} t{r.get('threads')}"
        median = f"{ms('median_ms')} [{ms('ci95_low_ms')}, {ms('ci95_high_ms')}]"
    accuracy = fmt.percent(r.get("accuracy"))
    size = "–" if r.get("size_bytes") is None else f"{r['size_bytes'] / 1e3:,.1f} kB"
    return [str(r.get("timestamp", ""))[:19], r.get("study", ""), str(r.get("model", "")), file, runtime, median,
            ms("p90_ms"), accuracy, size, str((r.get("environment") or {}).get("cpu", ""))[:32]]
