"""The shape of the source, measured the same way at two revisions (issue 25's figures).

Static analysis with ``ast`` and the import graph, no code run:

- size: lines and functions in ``src/``;
- string-key reads: subscripts ``x["key"]`` and ``x.get("key")`` with a literal string key (dicts read by string
  key instead of typed records);
- ``dict[str, Any]`` record fields: annotated class attributes of that type (dataclasses, pydantic models);
- early exit's spread: early-exit files (``early_exit`` in their name, or inside the ``early_exit`` package), the
  packages holding them (the ``early_exit`` package counts once, its subfolders with it), and the generic modules
  that mention it (outside those files);
- the largest signature: the parameters of ``train_early_exit``;
- generic modules that branch on early exit (an ``if`` about it outside the early-exit files);
- import cycles between ``convbench`` modules, outside the step-kind registry (``experiment/kinds``);
- duplicated protocols: how many modules carry their own interleaving loop (a ``permutation`` of configurations
  per round), and how many modules decide "which model to ship".

Usage:
    python benchmarks/architecture.py [--base REV]   (default base: a5e0b5c, the revision issue 25 measured)

Writes ``benchmarks/results/architecture.{json,md}``.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "architecture"
DEFAULT_BASE = "a5e0b5c"
EARLY_EXIT_PACKAGE = "early_exit"  # convbench/early_exit/: early exit's home package (absent at the base revision)
TIMING_PACKAGES = ("bench", EARLY_EXIT_PACKAGE)  # where a module of its own interleaving loop would time models


def measure(src: Path) -> dict[str, Any]:
    """Every figure of the module docstring for the ``convbench`` package under ``src``."""
    package = src / "convbench"
    files = sorted(package.rglob("*.py"))
    trees = {f: ast.parse(f.read_text(encoding="utf-8")) for f in files}
    lines = sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files)
    functions = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for t in trees.values() for n in ast.walk(t))
    string_reads = sum(_string_key_reads(t) for t in trees.values())
    any_fields = sum(_dict_any_fields(t) for t in trees.values())
    named = [f for f in files if _is_early_exit_file(package, f)]
    mentions = [f for f in files if f not in named and "early_exit" in f.read_text(encoding="utf-8")]
    train_ee = next((n for t in trees.values() for n in ast.walk(t)
                     if isinstance(n, ast.FunctionDef) and n.name == "train_early_exit"), None)
    params = None if train_ee is None else len(train_ee.args.args) + len(train_ee.args.kwonlyargs)
    branching = sorted(_module_name(package, f) for f in files if f not in named and _branches_on_early_exit(trees[f]))
    return {"lines": lines, "functions": functions, "string_key_reads": string_reads,
            "dict_any_fields": any_fields, "early_exit_files": len(named),
            "early_exit_packages": len({_holding_package(package, f) for f in named}),
            "early_exit_lines": sum(len(f.read_text(encoding="utf-8").splitlines()) for f in named),
            "modules_mentioning_early_exit": len(mentions), "train_early_exit_params": params,
            "generic_modules_branching_on_early_exit": branching,
            "import_cycles": _cycles(package, trees), "interleaving_loops": _interleaving_loops(package, trees)}


def _is_early_exit_file(package: Path, file: Path) -> bool:
    """A file of early exit's own: named for it, or inside the ``early_exit`` package."""
    return "early_exit" in file.name or file.relative_to(package).parts[0] == EARLY_EXIT_PACKAGE


def _holding_package(package: Path, file: Path) -> str:
    """The package a file counts in: its folder, except that the ``early_exit`` package is one, subfolders and all."""
    folder = file.parent.relative_to(package)
    return EARLY_EXIT_PACKAGE if folder.parts[:1] == (EARLY_EXIT_PACKAGE,) else folder.as_posix()


def _string_key_reads(tree: ast.AST) -> int:
    return sum(_is_subscript_read(node) or _is_get_call(node) for node in ast.walk(tree))


def _branches_on_early_exit(tree: ast.AST) -> bool:
    """An ``if`` (statement or expression) whose test asks about early exit."""
    return any(isinstance(n, ast.If | ast.IfExp) and any(word in ast.unparse(n.test) for word in
                                                         ("early_exit", "EarlyExit"))
               for n in ast.walk(tree))


def _is_subscript_read(node: ast.AST) -> bool:
    return (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str))


def _is_get_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))


def _dict_any_fields(tree: ast.AST) -> int:
    count = 0
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.AnnAssign) and "dict[str, Any]" in ast.unparse(stmt.annotation):
                count += 1
    return count


def _module_name(package: Path, file: Path) -> str:
    parts = file.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cycles(package: Path, trees: dict[Path, ast.AST]) -> list[list[str]]:
    """Strongly connected components of more than one module in the import graph (imports at any depth, type-only
    imports left out), the step-kind registry's own cycle (experiment ↔ experiment.kinds) left out."""
    names = {_module_name(package, f): f for f in trees}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, file in names.items():
        for node in ast.walk(trees[file]):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        for node in ast.walk(trees[file]):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convbench"):
                # ``from pkg import mod`` needs pkg.mod; ``from pkg import name`` needs pkg's __init__
                targets = {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                           for a in node.names}
                graph[name] |= {t for t in targets if t in names and t != name}
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 and not all(c.startswith("convbench.experiment") for c in component):
                found.append(sorted(component))

    for v in list(names):
        if v not in index:
            visit(v)
    return found


def _interleaving_loops(package: Path, trees: dict[Path, ast.AST]) -> list[str]:
    """Timing modules (in ``bench`` or ``early_exit``) that shuffle configurations per round themselves
    (``permutation`` inside a ``for`` loop)."""
    found = []
    for file, tree in trees.items():
        if not set(TIMING_PACKAGES) & set(file.relative_to(package).parts[:-1]):
            continue
        for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For)):
            if any(isinstance(n, ast.Attribute) and n.attr == "permutation" for n in ast.walk(loop)):
                found.append(_module_name(package, file))
                break
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"the revision to compare with (default {DEFAULT_BASE})")
    args = parser.parse_args()
    from convbench.io import write_json, write_text

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "worktree", "add", "--detach", tmp, args.base], cwd=ROOT, capture_output=True,
                       check=True)
        try:
            before = measure(Path(tmp) / "src")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=ROOT, capture_output=True, check=True)
    after = measure(ROOT / "src")
    report = {"base": args.base, "head": head, "before": before, "after": after}
    write_json(RESULTS.with_suffix(".json"), report)
    write_text(RESULTS.with_suffix(".md"), markdown(report))
    print(markdown(report))


def markdown(r: dict[str, Any]) -> str:
    b, a = r["before"], r["after"]
    lines = [f"# The shape of the source: {r['base']} → {r['head']} (working tree)", "",
             "Static analysis with `ast` (see `benchmarks/architecture.py`). Issue 25's targets beside each figure.",
             "", "| figure | before | after | issue 25's target |", "|---|---:|---:|---|"]
    rows = [("lines in src/", "lines", "≤ 19.6k"), ("functions", "functions", ""),
            ("string-key reads", "string_key_reads", "≤ 350"), ("`dict[str, Any]` record fields", "dict_any_fields",
                                                                 "≤ 10"),
            ("early-exit files (named early_exit, or in early_exit/)", "early_exit_files", "one package"),
            ("packages holding them", "early_exit_packages", "1"),
            ("their lines", "early_exit_lines", ""),
            ("other modules mentioning early_exit", "modules_mentioning_early_exit", ""),
            ("`train_early_exit` parameters", "train_early_exit_params", "≤ 12")]
    lines += [f"| {label} | {b[key]} | {a[key]} | {target} |" for label, key, target in rows]
    lines += [f"| generic modules branching on early exit (an `if` on it, outside early-exit files) | "
              f"{len(b['generic_modules_branching_on_early_exit'])} | "
              f"{len(a['generic_modules_branching_on_early_exit'])} | 0 |"]
    lines += [f"| import cycles outside the step-kind registry | {len(b['import_cycles'])} | "
              f"{len(a['import_cycles'])} | 0 |",
              f"| modules with their own interleaving loop | {len(b['interleaving_loops'])} | "
              f"{len(a['interleaving_loops'])} | 1 |", ""]
    lines += [f"- import cycle {when}: {' ↔ '.join(c)}" for when, side in (("before", b), ("after", a))
              for c in side["import_cycles"]]
    lines += [f"- generic modules branching on early exit {when}: "
              f"{', '.join(side['generic_modules_branching_on_early_exit'])}"
              for when, side in (("before", b), ("after", a))]
    lines += [f"- interleaving loops {when}: {', '.join(side['interleaving_loops'])}"
              for when, side in (("before", b), ("after", a))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
