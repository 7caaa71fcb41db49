"""Batch-1 latency of the seed architectures in every format and runtime they can ship in (issue 4).

For each ``MODELS/<arch>/model.keras`` (trained by ``benchmarks/train_fruits.py``):

1. export to TFLite × {none, dynamic, float16, int8} and to ONNX (float), then time each file with
   :func:`convbench.bench.bench` in LiteRT with 1 and 2 threads, ONNX Runtime with 1 thread, and the
   Keras model itself (``tf.function``): median, p90, 95 % CI of the median, size, accuracy, parity;
   rank them and say which differences are significant (:func:`convbench.report.compare.compare`);
2. harness overhead: the same loop on a trivial model (one multiply of one number) per runtime;
   target: < 1 % of the median of every deployed seed-model cell that takes ≥ 1 ms (for Keras the
   trivial call is TensorFlow's own dispatch cost, reported apart);
3. repeatability: the whole measurement of one model repeated ``--repeats`` times; target: medians
   within 5 % of each other on an idle machine;
4. speed-up of each deployed file over Keras at batch 1, and attained GFLOP/s (2·MACs / median)
   next to a peak estimate for this CPU (see :func:`peak_estimate`).

Writes ``OUT/latency.json`` (``rows``, ``overhead_fraction`` over the deployed runtimes, ``repeat_spread``,
``environment`` …), ``OUT/latency.md``, and the comparison table and plots in ``OUT/latency/``. Exported
files are kept in ``MODELS/<arch>/export/`` and reused while newer than the Keras model. TensorFlow runs
with one thread (the Keras cell is "Keras, 1 thread"). Run it on an idle machine: another busy process on
a 2-core CPU nearly doubles a median.

Usage:
    python benchmarks/latency.py                          # runs/fruits/*/model.keras
    python benchmarks/latency.py --models DIR --archs mobilenet_v2 --quantize none int8
    python benchmarks/latency.py --quick                  # smoke test: a handful of runs per cell
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convbench.artifacts import ModelCard, read_card, write_card
from convbench.bench import BenchResult, Timer, bench
from convbench.bench.sample_image import sample_image
from convbench.data import Preprocessing
from convbench.env import environment
from convbench.errors import ConvbenchError
from convbench.io import write_json, write_text
from convbench.report.compare import compare

ROOT = Path(__file__).resolve().parents[1]
QUANTIZE = ("none", "dynamic", "float16", "int8")
OVERHEAD_TARGET = 0.01  # harness overhead / median, for models of at least 1 ms
REPEAT_TARGET = 0.05  # max/min - 1 of the repeated medians
MIN_MEDIAN_FOR_OVERHEAD_S = 1e-3


@dataclass(frozen=True)
class Config:
    """One runtime setting a model is timed in."""

    runtime: str
    threads: int
    format: str  # the file it runs: tflite, onnx or keras

    @property
    def key(self) -> str:
        return f"{self.runtime}{self.threads}"


CONFIGS = (Config("litert", 1, "tflite"), Config("litert", 2, "tflite"), Config("onnxruntime", 1, "onnx"),
           Config("keras", 1, "keras"))


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    protocol = _protocol(args)
    _pin_tensorflow_threads()  # before exports start TensorFlow: its pools cannot be resized later
    started, load_before = time.perf_counter(), os.getloadavg()
    models = _discover(args.models, args.archs)
    configs = [c for c in CONFIGS if c.key in args.configs]
    print(f"{len(models)} models × {len(args.quantize)} modes × {len(configs)} runtimes; "
          f"load average {load_before[0]:.2f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="latency-") as work:
        image = args.image or sample_image(read_card(models[0]), work, data=args.data).path
        results: list[BenchResult] = []
        rows: list[dict[str, Any]] = []
        for model in models:
            for result, row in _measure_model(model, args, configs, protocol, image):
                rows.append(row)
                if result is not None:
                    results.append(result)
        _add_speedups(rows)
        overhead = harness_overhead(Path(work), configs, protocol, image)
        repeat = repeatability(_repeat_target(rows, args.repeat_model), protocol, image, args.repeats)

    peak = peak_estimate()
    for row in rows:
        peak_for_row = peak["measured_gflops_per_thread"] * row["threads"]
        row["fraction_of_measured_peak"] = row["gflops"] / peak_for_row if row.get("gflops") else None
    comparison = compare(results, out=args.out / "latency") if results else None
    report = {
        "rows": rows,
        "overhead_fraction": _overhead_fraction([r for r in rows if r["runtime"] != "keras"], overhead),
        "overhead_fraction_keras": _overhead_fraction([r for r in rows if r["runtime"] == "keras"], overhead),
        "overhead_target": OVERHEAD_TARGET,
        "overhead_s": overhead,
        "timer_overhead_s": timer_overhead(),
        "repeat_spread": repeat.get("spread"),
        "repeat_target": REPEAT_TARGET,
        "repeat": repeat,
        "ranking": [p.to_dict() for p in comparison.ranking()] if comparison else [],
        "summary": _summary(rows, comparison),
        "peak_estimate": peak,
        "protocol": protocol,
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "environment": environment(),
    }
    write_json(args.out / "latency.json", report)
    write_text(args.out / "latency.md", _markdown(report, comparison))
    print(f"wrote {args.out / 'latency.json'} and {args.out / 'latency.md'}", flush=True)
    return 0


# -- measuring ------------------------------------------------------------------------------------------------


def _measure_model(model: Path, args: argparse.Namespace, configs: list[Config], protocol: dict[str, Any],
                   image: Path):
    """Yield ``(BenchResult | None, row)`` for every (mode, runtime) cell of one Keras model."""
    card = read_card(model)
    arch = card.arch
    for config in configs:
        modes = ["none"] if config.format in ("onnx", "keras") else list(args.quantize)
        for quantize in modes:
            label = f"{arch} {quantize} {config.runtime} t{config.threads}"
            try:
                path = _model_file(model, config.format, quantize, args)
                result = bench(path, runtime=config.runtime, threads=config.threads, image=image, **protocol)
            except (ConvbenchError, RuntimeError) as e:  # one bad cell must not end the sweep (timm's _try_run)
                print(f"  {label}: FAILED {e}", flush=True)
                yield None, {"arch": arch, "quantize": quantize, "runtime": config.runtime,
                             "threads": config.threads, "config": config.key, "format": config.format,
                             "error": str(e)}
                continue
            row = _row(result, arch, quantize, config)
            print(f"  {label}: median {row['median_ms']:.3f} ms [{row['ci95_ms'][0]:.3f}, {row['ci95_ms'][1]:.3f}]"
                  f", p90 {row['p90_ms']:.3f} ms{' UNSTABLE' if row['unstable'] else ''}", flush=True)
            yield result, row


def _pin_tensorflow_threads() -> None:
    """One intra-op thread for TensorFlow, as the ``keras1`` config says (exports get slower, not the timings)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _model_file(keras_path: Path, fmt: str, quantize: str, args: argparse.Namespace) -> Path:
    """The file to time: the Keras model itself, or its export (made now unless a newer one exists)."""
    if fmt == "keras":
        return keras_path
    from convbench.export import export

    out = keras_path.parent / "export" / (f"model.{quantize}.tflite" if fmt == "tflite" else "model.onnx")
    fresh = out.exists() and Path(f"{out}.json").exists() and out.stat().st_mtime > keras_path.stat().st_mtime
    if args.force or not fresh:
        print(f"  exporting {out} …", flush=True)
        # parity on the whole test split, so the file's accuracy is comparable with the Keras model's
        export(keras_path, to=fmt, quantize=quantize, out=out, calibration=args.calibration, check_images=None)
    return out


def _row(result: BenchResult, arch: str, quantize: str, config: Config) -> dict[str, Any]:
    m, model = result.inference, result.model
    phases = {f"{name}_ms": 1e3 * result.phases[name].median for name in ("load", "first_inference", "preprocess")}
    return {"arch": arch, "quantize": quantize, "runtime": config.runtime, "threads": result.runtime["threads"],
            "config": config.key, "format": config.format, "median_ms": 1e3 * m.median, "p90_ms": 1e3 * m.p90,
            "ci95_ms": [1e3 * m.ci95.low, 1e3 * m.ci95.high], "iqr_ratio": m.iqr_ratio, "unstable": m.unstable,
            "n": m.n, "size_bytes": model["size_bytes"], "sha256": model["sha256"], "accuracy": model["accuracy"],
            "parity": _parity(model["metrics"]), "params": model["params"], "macs": model["macs"],
            "gflops": result.attained_gflops, **phases, "runtime_version": result.runtime["version"],
            "delegate": result.runtime["delegate"], "path": model["path"]}


def _parity(metrics: dict[str, Any]) -> dict[str, Any]:
    """The export's agreement with Keras as recorded in its card by the export's parity check."""
    return {k: v for k, v in metrics.items() if k.startswith("parity_") or k == "keras_accuracy"}


def _add_speedups(rows: list[dict[str, Any]]) -> None:
    keras = {r["arch"]: r["median_ms"] for r in rows if r["runtime"] == "keras" and "error" not in r}
    for r in rows:
        if "error" not in r and r["arch"] in keras:
            r["speedup_vs_keras"] = keras[r["arch"]] / r["median_ms"]


def harness_overhead(work: Path, configs: list[Config], protocol: dict[str, Any], image: Path) -> dict[str, float]:
    """Median per-call time of a trivial model (one multiply of one number) in each runtime config, seconds.

    Everything the loop does besides the model's own arithmetic (two clock reads, the runtime's call
    dispatch and tensor bookkeeping) is in it, so it bounds the harness overhead from above.
    """
    trivial = _trivial_model(work)
    overhead = {}
    for config in configs:
        try:
            path = trivial if config.format == "keras" else _export_trivial(trivial, config.format)
            overhead[config.key] = bench(path, runtime=config.runtime, threads=config.threads, image=image,
                                         **protocol).inference.median
        except (ConvbenchError, RuntimeError) as e:
            print(f"  trivial model in {config.key}: FAILED {e}", flush=True)
    return overhead


def _trivial_model(work: Path) -> Path:
    import keras

    inputs = keras.Input((1, 1, 1))
    model = keras.Model(inputs, keras.layers.Rescaling(2.0, name="times_two")(inputs), name="trivial")
    path = work / "trivial.keras"
    model.save(path)
    write_card(path, ModelCard(arch="trivial", width=1.0, input_shape=(1, 1, 1), class_names=("x", "y"),
                               preprocessing=Preprocessing((1, 1), channels=1), params=0, macs=1))
    return path


def _export_trivial(keras_path: Path, fmt: str) -> Path:
    from convbench.export import export

    out = keras_path.with_suffix(f".{fmt}")
    if not out.exists():
        export(keras_path, to=fmt, quantize="none", out=out, check=False)
    return out


def timer_overhead() -> float:
    """Median time of an empty call through :class:`Timer`'s loop: the clock reads and the call itself."""
    return Timer(lambda: None).run(runs=10_000, min_seconds=0.2, warmup=100, warmup_seconds=0.05).median


def repeatability(path: Path | None, protocol: dict[str, Any], image: Path, repeats: int) -> dict[str, Any]:
    """Bench the same file ``repeats`` times from scratch; spread = max/min − 1 of the medians."""
    if path is None or repeats < 2:
        return {}
    runtime = "litert" if path.suffix == ".tflite" else None
    medians = [bench(path, runtime=runtime, threads=1, image=image, **protocol).inference.median
               for _ in range(repeats)]
    return {"model": str(path), "runtime": runtime, "threads": 1, "medians_ms": [1e3 * m for m in medians],
            "spread": max(medians) / min(medians) - 1.0}


def _repeat_target(rows: list[dict[str, Any]], wanted: str | None) -> Path | None:
    """The float LiteRT 1-thread file of ``wanted`` (default: the first architecture measured)."""
    for r in rows:
        if "error" not in r and r["runtime"] == "litert" and r["threads"] == 1 and r["quantize"] == "none" and \
                (wanted is None or r["arch"] == wanted):
            return Path(r["path"])
    return None


def _overhead_fraction(rows: list[dict[str, Any]], overhead: dict[str, float]) -> float | None:
    fractions = [overhead[r["config"]] / (1e-3 * r["median_ms"]) for r in rows
                 if "error" not in r and 1e-3 * r["median_ms"] >= MIN_MEDIAN_FOR_OVERHEAD_S and r["config"] in overhead]
    return max(fractions) if fractions else None


def peak_estimate() -> dict[str, Any]:
    """Two estimates of this CPU's float32 peak, per thread.

    - measured: a 1024³ float32 matrix product (numpy's BLAS, pinned to one thread with threadpoolctl),
      best of 5: what well-tuned dense code attains here;
    - theoretical: clock (``cpu MHz`` of /proc/cpuinfo) × FLOP per cycle from the widest vector FMA the
      CPU reports (AVX-512: 64, AVX2+FMA: 32, AVX: 16, else 8; assuming two FMA pipes per core).
    """
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    with threadpool_limits(1):
        a @ a  # warm-up
        best = min(_seconds(lambda: a @ a) for _ in range(5))
    mhz, flags = _cpuinfo()
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 16 if "avx" in flags else 8
    return {"measured_gflops_per_thread": 2 * 1024**3 / best / 1e9, "measured_by": "numpy float32 1024x1024 "
            "matmul, 1 BLAS thread, best of 5", "clock_mhz": mhz, "flop_per_cycle": per_cycle,
            "theoretical_gflops_per_thread": mhz * 1e6 * per_cycle / 1e9 if mhz else None,
            "theoretical_by": "cpu MHz × FLOP/cycle of the widest FMA in the CPU flags (2 FMA pipes assumed)"}


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cpuinfo() -> tuple[float | None, set[str]]:
    mhz, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "cpu MHz" and mhz is None:
                mhz = float(value)
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return mhz, flags


# -- reporting ------------------------------------------------------------------------------------------------


def _summary(rows: list[dict[str, Any]], comparison) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return {}
    fastest = min(ok, key=lambda r: r["median_ms"])
    smallest = min((r for r in ok if r["format"] != "keras"), key=lambda r: r["size_bytes"], default=None)
    best_by_arch = {}
    for r in ok:
        if r["runtime"] != "keras" and (r["arch"] not in best_by_arch or
                                        r["median_ms"] < best_by_arch[r["arch"]]["median_ms"]):
            best_by_arch[r["arch"]] = r
    litert_float = sorted((r for r in ok if r["runtime"] == "litert" and r["threads"] == 1 and
                           r["quantize"] == "none"), key=lambda r: r["median_ms"])
    arch_ranking = compare_rows(litert_float, comparison)
    return {"fastest": _name(fastest), "smallest": _name(smallest) if smallest else None,
            "best_per_arch": {a: _name(r) for a, r in best_by_arch.items()},
            "litert_float_t1_ranking": arch_ranking}


def compare_rows(rows: list[dict[str, Any]], comparison) -> list[str]:
    """Significance statements between neighbours of ``rows`` (already sorted by median)."""
    if comparison is None:
        return []
    by_pair = {(p.faster, p.slower): p for p in comparison.pairs}
    names = [_name(r) for r in rows]
    return [by_pair[(a, b)].statement for a, b in itertools.pairwise(names) if (a, b) in by_pair]


def _name(r: dict[str, Any]) -> str:
    return f"{r['arch']} {r['quantize']} {r['runtime']} t{r['threads']}"


def _markdown(report: dict[str, Any], comparison) -> str:
    env, peak, summary = report["environment"], report["peak_estimate"], report["summary"]
    lines = ["# Batch-1 latency of the seed architectures", "",
             f"{env['cpu']}, {env['cores']} cores, {env['os']}, Python {env['python']}; "
             f"load average {report['load_average']['before'][0]:.2f} before, "
             f"{report['load_average']['after'][0]:.2f} after; {report['wall_seconds']:.0f} s in all.",
             f"Protocol: {_protocol_text(report['protocol'])}.", "",
             "| arch | mode | runtime | thr | median ms [95 % CI] | p90 ms | size | accuracy | × Keras | GFLOP/s |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['arch']} | {r['quantize']} | {r['runtime']} | {r['threads']} | failed: "
                         f"{r['error']} | | | | | |")
            continue
        lines.append(f"| {r['arch']} | {r['quantize']} | {r['runtime']} | {r['threads']} | {r['median_ms']:.3f} "
                     f"[{r['ci95_ms'][0]:.3f}, {r['ci95_ms'][1]:.3f}]{' ⚠' if r['unstable'] else ''} | "
                     f"{r['p90_ms']:.3f} | {r['size_bytes'] / 1e3:,.1f} kB | {_pct(r['accuracy'])} | "
                     f"{_num(r.get('speedup_vs_keras'), '.1f')} | {_num(r.get('gflops'), '.2f')} |")
    lines += ["", "⚠ = unstable (IQR/median > 10 %). Accuracy: top-1 on the test split as recorded in the file's card.",
              "", "## Which is fastest, and is it significant?", ""]
    if summary:
        lines += [f"- Fastest cell: **{summary['fastest']}**; smallest file: **{summary['smallest']}**.",
                  "- Fastest setting per architecture: " +
                  "; ".join(f"{a}: {n}" for a, n in summary["best_per_arch"].items()) + ".", "",
                  "LiteRT float32, 1 thread, architectures ranked:", ""]
        lines += [f"- {s}" for s in summary["litert_float_t1_ranking"]] or ["- (fewer than two architectures)"]
        lines += ["", "All cells ranked (neighbours compared):", ""]
        lines += [f"- {p['statement']}" for p in report["ranking"]]
    lines += ["", "## Speed-up over Keras, attained GFLOP/s", "", *_speedup_table(report["rows"], peak)]
    lines += ["", "## Harness overhead", "",
              "Median per call of a trivial model (one multiply of one number), per runtime: "
              + ", ".join(f"{k} {1e6 * v:.1f} µs" for k, v in report["overhead_s"].items()) + ".",
              f"Timer loop alone (empty call): {1e9 * report['timer_overhead_s']:.0f} ns.",
              f"Largest overhead / median over the deployed (LiteRT, ONNX Runtime) cells of ≥ 1 ms: "
              f"{_pct(report['overhead_fraction'], 2)} (target < {report['overhead_target']:.0%}). For Keras the "
              f"trivial model's time is TensorFlow's own per-call dispatch, part of what deployment removes, not "
              f"harness overhead: {_pct(report['overhead_fraction_keras'], 2)} of its medians.",
              "", "## Repeatability", ""]
    repeat = report["repeat"]
    if repeat:
        lines.append(f"{repeat['model']} ({repeat['runtime']}, 1 thread) measured {len(repeat['medians_ms'])} times "
                     f"from scratch: medians {', '.join(f'{m:.3f}' for m in repeat['medians_ms'])} ms; spread "
                     f"{repeat['spread']:.1%} (target < {report['repeat_target']:.0%}).")
    else:
        lines.append("Not measured.")
    lines += ["", "## Peak estimate", "",
              f"Measured: {peak['measured_gflops_per_thread']:.1f} GFLOP/s per thread ({peak['measured_by']}). "
              f"Theoretical: {_num(peak['theoretical_gflops_per_thread'], '.1f')} GFLOP/s per thread "
              f"({peak['theoretical_by']}: {_num(peak['clock_mhz'], '.0f')} MHz × {peak['flop_per_cycle']}). "
              "The measured figure is a practical reference, not a bound (a busy machine lowers it, and a runtime's "
              "own kernels can beat numpy's BLAS on small shapes); the theoretical one is the bound."]
    if comparison is not None:
        lines += ["", "## Plots", "", "![latency](latency/latency_distribution.png)",
                  "![accuracy vs latency](latency/accuracy_vs_latency.png)", "![size](latency/size_vs_latency.png)"]
    return "\n".join(lines) + "\n"


def _speedup_table(rows: list[dict[str, Any]], peak: dict[str, Any]) -> list[str]:
    """Per architecture: Keras vs LiteRT float32 1 thread vs the fastest deployed cell, with GFLOP/s."""
    ok = [r for r in rows if "error" not in r]
    lines = ["| arch | Keras ms | LiteRT fp32 t1 ms | × Keras | fastest deployed | ms | × Keras | GFLOP/s "
             "| % of peak: measured / theoretical |", "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    for arch in dict.fromkeys(r["arch"] for r in ok):
        keras = next((r for r in ok if r["arch"] == arch and r["runtime"] == "keras"), None)
        base = next((r for r in ok if r["arch"] == arch and r["runtime"] == "litert" and r["threads"] == 1
                     and r["quantize"] == "none"), None)
        best = min((r for r in ok if r["arch"] == arch and r["runtime"] != "keras"), key=lambda r: r["median_ms"],
                   default=None)
        if best is None:
            continue
        shares = [best["gflops"] / (per_thread * best["threads"]) if best["gflops"] and per_thread else None
                  for per_thread in (peak["measured_gflops_per_thread"], peak["theoretical_gflops_per_thread"])]
        lines.append(f"| {arch} | {_num(keras and keras['median_ms'], '.3f')} | "
                     f"{_num(base and base['median_ms'], '.3f')} | {_num(base and base.get('speedup_vs_keras'), '.1f')}"
                     f" | {best['quantize']} {best['runtime']} t{best['threads']} | {best['median_ms']:.3f} | "
                     f"{_num(best.get('speedup_vs_keras'), '.1f')} | {_num(best['gflops'], '.2f')} | "
                     f"{_pct(shares[0], 0)} / {_pct(shares[1], 0)} |")
    return lines


def _protocol_text(p: dict[str, Any]) -> str:
    return (f"≥ {p['runs']} runs and ≥ {p['min_seconds']} s per cell after ≥ {p['warmup']} warm-up calls and "
            f"≥ {p['warmup_seconds']} s; {p['load_repeats']} fresh loads; batch 1; time.perf_counter_ns")


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def _num(x: float | None, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


# -- command line ---------------------------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "runs" / "fruits",
                        help="folder of <arch>/model.keras (default: runs/fruits)")
    parser.add_argument("--archs", nargs="+", help="only these architectures (default: every model found)")
    parser.add_argument("--quantize", nargs="+", choices=QUANTIZE, default=list(QUANTIZE),
                        help="TFLite export modes (default: all four)")
    parser.add_argument("--configs", nargs="+", choices=[c.key for c in CONFIGS], default=[c.key for c in CONFIGS],
                        help="runtime settings (default: all)")
    parser.add_argument("--calibration", help="data spec for int8 calibration (default: the model card's data)")
    parser.add_argument("--image", type=Path, help="image file to time preprocessing on")
    parser.add_argument("--data", help="data spec whose first test image is used (default: the card's data)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="where latency.json/.md go (default: benchmarks/results)")
    parser.add_argument("--runs", type=int, default=100, help="timed calls per cell, at least (default: 100)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="timed seconds per cell, at least (default: 1)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up calls, at least (default: 10)")
    parser.add_argument("--warmup-seconds", type=float, default=0.5, help="warm-up seconds, at least (default: 0.5)")
    parser.add_argument("--load-repeats", type=int, default=5, help="fresh loads timed per cell (default: 5)")
    parser.add_argument("--repeats", type=int, default=5, help="repeatability: measurements of one model (default: 5)")
    parser.add_argument("--repeat-model", help="architecture for the repeatability check (default: the first)")
    parser.add_argument("--force", action="store_true", help="export again even when a newer export exists")
    parser.add_argument("--quick", action="store_true", help="smoke test: 5 runs, no time budgets, 1 load, 2 repeats")
    return parser.parse_args(argv)


def _protocol(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        args.repeats = min(args.repeats, 2)
        return {"runs": 5, "min_seconds": 0.0, "warmup": 1, "warmup_seconds": 0.0, "load_repeats": 1}
    return {"runs": args.runs, "min_seconds": args.min_seconds, "warmup": args.warmup,
            "warmup_seconds": args.warmup_seconds, "load_repeats": args.load_repeats}


def _discover(root: Path, archs: list[str] | None) -> list[Path]:
    models = sorted(p for p in root.glob("*/model.keras") if archs is None or p.parent.name in archs)
    if not models:
        wanted = f" for {', '.join(archs)}" if archs else ""
        sys.exit(f"latency.py: no {root}/<arch>/model.keras{wanted}; train them with benchmarks/train_fruits.py")
    return models


if __name__ == "__main__":
    sys.exit(main())
