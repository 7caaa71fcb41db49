"""CLI command: search (a thin wrapper over :func:`convbench.search.search` and the search report)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from convbench.checks import integer_in, number_in, output_folder
from convbench.cli.app import app
from convbench.cli.helptext import with_default
from convbench.errors import ConfigError
from convbench.vocabulary import TRAIN_DEFAULTS

DEFAULT_OUT = "results/search"


@app.command("search")
def search_command(
    floor: Annotated[float, typer.Option("--floor", help="Validation accuracy the found model must reach, in "
                                                         "(0, 1], e.g. 0.998.")],
    data: Annotated[str | None, typer.Option("--data", help=with_default(
        "Data spec NAME, NAME:PATH or NAME:PATH?key=value", "the embedded digits"))] = None,
    target: Annotated[str, typer.Option("--target", help="RUNTIME:THREADS the exported files are timed on.")] \
        = "litert:1",
    budget: Annotated[str, typer.Option("--budget", help="Wall time of the search: 60m, 90s, 1h30m (over every "
                                                          "session of a resumed search).")] = "60m",
    space: Annotated[Path | None, typer.Option("--space", help=with_default(
        "TOML file narrowing or widening the search space", "every registered architecture"))] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (study.db, trials/, search.json, "
                                                          "report.md/html).")] = Path(DEFAULT_OUT),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out (finished trials are "
                                                          "kept, never re-run).")] = False,
    storage: Annotated[str | None, typer.Option("--storage", help=with_default(
        "Optuna storage URL, to share one study between workers", "sqlite in --out"))] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Run trials on a Ray cluster: auto or HOST:PORT (its "
                                                          "target node started with --resources "
                                                          "'{\"timing_slot\": 1}').")] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Stop after this many trials in all.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Most epochs per trial.")] = None,
    max_latency: Annotated[float | None, typer.Option("--max-latency", help=with_default(
        "Hard cap in ms on the found model's median latency; a trial whose untrained export times clearly above it "
        "is pruned before training", "no cap"))] = None,
    val_split: Annotated[str, typer.Option("--val-split", help="How validation is held out: random images, or whole "
                                                               "groups (fruits360's frame sequences: a random split "
                                                               "of near-identical frames saturates).")] \
        = TRAIN_DEFAULTS.val_split,
    val_repeats: Annotated[int, typer.Option("--val-repeats", help="Validation splits a trial must meet the floor "
                                                                   "on (the worst counts): a trial meeting it on the "
                                                                   "first is trained again on the others.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view on the terminal.")] = False,
) -> None:
    """Find the fastest model that meets an accuracy floor, timed on the target runtime; write its report."""
    number_in("floor", floor, 0.0, 1.0, low_open=True)  # these before Keras and Optuna are imported
    for name, value in (("trials", trials), ("epochs", epochs), ("val-repeats", val_repeats)):
        if value is not None:
            integer_in(name, value, 1)
    if max_latency is not None:
        number_in("max-latency", max_latency, 0.0, math.inf, low_open=True, high_open=True)
    output_folder(out, "--out")
    if space is not None and not space.is_file():
        raise ConfigError(f"--space {space}: no such file")
    if data is not None:
        from convbench.data import check_spec  # numpy only

        check_spec(data)
    from convbench.report.search_section import write_search_report  # lazy: keras and optuna take seconds
    from convbench.search import search

    result = search(data, floor=floor, out=out, target=target, budget=budget, space=space, resume=resume,
                    storage=storage, ray=ray, max_trials=trials, val_split=val_split, val_repeats=val_repeats,
                    max_latency=max_latency, progress=not quiet,
                    **({"epochs": epochs} if epochs is not None else {}))
    write_search_report(result, out)
    best = result.recommended
    ran = (f"{len(result.trials)} trials ({result.count('complete')} complete, {result.count('pruned')} pruned, "
           f"{result.pruned_before_training} of them before training) in {result.search_seconds / 60:.1f} min")
    if best is None:
        print(f"no trial met the floor {floor} on validation; {ran} → {out / 'report.md'}")
        raise typer.Exit(1)
    print(f"recommended: #{best.number} {best.params.label}: {best.latency.median_ms:.4g} ms on "  # type: ignore[union-attr]
          f"{result.settings.target}, val {best.val_accuracy:.4f}, test "
          f"{result.test_accuracy(best.number):.4f}, {best.file_size_bytes:,} B; {ran} → {out / 'report.md'}")
