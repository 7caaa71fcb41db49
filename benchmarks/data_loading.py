"""How long each loader takes to turn a real download into arrays (``convbench.data.load``, end to end).

Every dataset in ../shared/data is loaded ``--repeats`` times (from a cold process start the first
time; the OS file cache is warm after that); wall time and this process's CPU time are recorded.
Targets from the issue: 60,000 MNIST images under 5 s, Fruits-360 apples/pears (9,087 JPEGs) under
20 s on 2 cores. ``--cores N`` pins the process to N cores (Linux), to measure "on 2 cores" on a
bigger machine. Results go to ``benchmarks/results/data_loading.json`` and ``.md``.

Usage:
    python benchmarks/data_loading.py [--data-root ../shared/data] [--repeats 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

from convbench.data import load
from convbench.env import environment
from convbench.io import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
# (label, data spec relative to the data root, target seconds or None)
CASES = (
    ("MNIST (IDX, gz)", "mnist:{root}/mnist", 5.0),
    ("Fruits-360 apples/pears (JPEG zip)", "fruits360:{root}/fruits-360-apples-pears.zip", 20.0),
    ("Omniglot background (1-bit PNG zip)", "omniglot:{root}/omniglot/images_background.zip", None),
    ("GTSRB training + test (PPM zips, csv)", "gtsrb:{root}/gtsrb", None),
    ("GTSRB, crop=roi", "gtsrb:{root}/gtsrb?crop=roi", None),
    ("CIFAR-10 JPEG copy (zip)", "cifar10:{root}/cifar10-jpeg.zip", None),
)


def time_load(spec: str, repeats: int) -> dict[str, Any]:
    """Wall and CPU seconds of ``repeats`` loads of ``spec``, and what was loaded."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        dataset = load(spec)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    images = len(dataset.train) + (len(dataset.test) if dataset.test is not None else 0)
    return {"spec": spec, "images": images, "image_shape": list(dataset.image_shape),
            "classes": dataset.num_classes, "wall_seconds": wall, "cpu_seconds": cpu,
            "median_wall_seconds": statistics.median(wall), "images_per_second": images / statistics.median(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder holding the real datasets (default: ../shared/data)")
    parser.add_argument("--repeats", type=int, default=3, help="loads per dataset (default: 3)")
    parser.add_argument("--cores", type=int, default=None, help="pin to this many cores (default: all)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where data_loading.json/.md go (default: benchmarks/results)")
    args = parser.parse_args()
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    rows = []
    for label, spec, target in CASES:
        row = {"dataset": label, **time_load(spec.format(root=args.data_root), args.repeats), "target_seconds": target}
        row["meets_target"] = None if target is None else row["median_wall_seconds"] < target
        rows.append(row)
        print(f"{label}: {row['images']:,} images in {row['median_wall_seconds']:.2f} s (median of {args.repeats}; "
              f"CPU {statistics.median(row['cpu_seconds']):.2f} s)", flush=True)
    result = {"benchmark": "data_loading", "cores_used": cores, "repeats": args.repeats, "rows": rows,
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "environment": environment()}
    write_json(args.results / "data_loading.json", result)
    write_text(args.results / "data_loading.md", _markdown(result))


def _markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    rows = []
    for row in result["rows"]:
        target = "" if row["target_seconds"] is None else \
            f"< {row['target_seconds']:g} s: {'met' if row['meets_target'] else 'NOT met'}"
        rows.append(f"| {row['dataset']} | {row['images']:,} | {'x'.join(map(str, row['image_shape']))} "
                    f"| {row['median_wall_seconds']:.2f} | {min(row['wall_seconds']):.2f} "
                    f"| {statistics.median(row['cpu_seconds']):.2f} | {row['images_per_second']:,.0f} | {target} |")
    busy = result["load_average_before"][0]
    return "\n".join([
        "# Loading the real datasets into arrays",
        "",
        f"`convbench.data.load(spec)` end to end (open the archive, decode every image on a thread pool, stack), "
        f"{result['repeats']} loads each on {result['cores_used']} cores.",
        "",
        "| dataset | images | shape | median wall (s) | fastest (s) | CPU (s) | images/s | target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores ({result['cores_used']} used); Python {env['python']}, "
        f"numpy {env['libraries'].get('numpy', '?')}. Load average (1/5/15 min) before: "
        f"{', '.join(f'{v:.2f}' for v in result['load_average_before'])}; after: "
        f"{', '.join(f'{v:.2f}' for v in result['load_average_after'])} — the machine was "
        f"{'idle' if busy < 0.5 else 'shared with other work'} when the run started. CPU seconds count this "
        "process only: on a busy machine wall time exceeds them.",
        "",
    ])


if __name__ == "__main__":
    main()
