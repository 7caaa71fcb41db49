"""CLI commands: train (a thin wrapper over :func:`convbench.train.train`)."""

from __future__ import annotations

import typer

from convbench.checks import TrainingOptions, output_folder
from convbench.cli.app import app
from convbench.cli.helptext import with_default
from convbench.vocabulary import TRAIN_DEFAULTS, VAL_SPLITS


@app.command("train")
def train_command(
    arch: str = typer.Option(..., "--arch", help="Architecture name (see `convbench models`)."),
    data: str = typer.Option(None, "--data", help=with_default("Data spec NAME, NAME:PATH or NAME:PATH?key=value",
                                                               "the embedded digits")),
    out: str = typer.Option(..., "--out", help="Output folder for model.keras, its card and training.json."),
    width: float = typer.Option(None, "--width", help=with_default("Width multiplier α", TRAIN_DEFAULTS.width)),
    input_size: int = typer.Option(None, "--input-size", help=with_default("Square input side in pixels",
                                                                           "the architecture's")),
    channels: int = typer.Option(None, "--channels", help=with_default("Input channels, 1 or 3", "the data's")),
    epochs: int = typer.Option(None, "--epochs", help=with_default("Most epochs to train", TRAIN_DEFAULTS.epochs)),
    batch_size: int = typer.Option(None, "--batch-size", help=with_default("Images per step",
                                                                           TRAIN_DEFAULTS.batch_size)),
    patience: int = typer.Option(None, "--patience", help=with_default("Epochs without better validation accuracy "
                                                                       "before stopping", TRAIN_DEFAULTS.patience)),
    seed: int = typer.Option(None, "--seed", help=with_default("Seed of the splits, weights, order and augmentation",
                                                               TRAIN_DEFAULTS.seed)),
    val_split: str = typer.Option(None, "--val-split", help=with_default(
        f"How validation is held out: {' or '.join(VAL_SPLITS)} (whole groups of images the data gives, e.g. "
        "fruits360's frame sequences: a random split of near-identical frames saturates)", TRAIN_DEFAULTS.val_split)),
    augment: bool = typer.Option(False, "--augment", help="Random flips and small shifts of training images."),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help="Skip unreadable images (and count "
                                                                          "them) instead of stopping."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/checkpoint when it holds "
                                                                   "the same run."),
) -> None:
    """Train an architecture on a dataset; write OUT/model.keras (+ card) and OUT/training.json."""
    settings = {"width": width, "input_size": input_size, "channels": channels, "epochs": epochs,
                "batch_size": batch_size, "patience": patience, "seed": seed, "val_split": val_split}
    check_before_loading(settings, out, data)
    from convbench.train import train  # lazy: keras takes seconds to import

    result = train(arch, data, out=out, augment=augment, skip_bad_images=skip_bad_images, resume=resume,
                   **{k: v for k, v in settings.items() if v is not None})
    report = result.report
    print(f"{arch}: test accuracy {report['test_accuracy']:.4f} (val {report['val_accuracy']:.4f}, train "
          f"{report['train_accuracy']:.4f}), best epoch {report['best_epoch']} of {report['epochs_run']}, "
          f"{report['params']:,} params, {report['macs']:,} MACs, {report['train_seconds']:.1f} s → "
          f"{result.model_path}")


def check_before_loading(settings: dict[str, object], out: str, *data_specs: str | None) -> None:
    """The options, the output folder and the data specs (names, paths), checked before Keras is imported (seconds,
    and its log lines)."""
    from convbench.data import check_spec  # numpy only

    fields = TrainingOptions.__dataclass_fields__
    TrainingOptions(**{k: v for k, v in settings.items() if v is not None and k in fields})  # type: ignore[arg-type]
    output_folder(out, "--out")
    for spec in data_specs:
        if spec is not None:
            check_spec(spec)
