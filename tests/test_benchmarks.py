"""The benchmark scripts are checked code: each one imports without running its work, and every call it makes to a
function (or class) imported from convbench binds to that function's current signature.

The scripts run for minutes to hours and only by hand, so an API change that breaks one (an argument renamed,
dropped or folded into a record) would otherwise surface at the end of a long run, or in the next engineer's.
The check is static: a call's positional count and keyword names are bound with
:meth:`inspect.Signature.bind` to placeholders, without running the call; calls that unpack ``*args`` or
``**kwargs`` cannot be checked so and are left out.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))


def import_script(path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``path`` imported as a module of its own name (not ``__main__``, so its ``main`` does not run), with the
    scripts' folder on ``sys.path`` as ``python benchmarks/NAME.py`` puts it (``from early_exit_pairs import …``);
    both undone after the test."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def convbench_names(tree: ast.AST) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every name the script binds by importing from convbench, anywhere in the file (lazy imports in functions
    too): name → (module, attribute path in it); ``import convbench.x as m`` binds ``m`` to the module itself."""
    names: dict[str, tuple[str, tuple[str, ...]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "convbench":
            assert node.module is not None
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module, (alias.name,))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "convbench":
                    # ``import convbench.x`` binds ``convbench``; ``import convbench.x as m`` binds ``m`` to x
                    names[alias.asname or "convbench"] = (alias.name if alias.asname else "convbench", ())
    return names


def _dotted(func: ast.expr) -> list[str] | None:
    """``a.b.c`` → ``["a", "b", "c"]``; ``None`` for a callee that is not a plain dotted name."""
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    return [func.id, *reversed(parts)] if isinstance(func, ast.Name) else None


def _resolve(imported: tuple[str, tuple[str, ...]], attributes: list[str]) -> Any:
    """The object a dotted callee names, importing submodules on the way as ``from convbench.x import y`` does."""
    obj: Any = importlib.import_module(imported[0])
    for attribute in (*imported[1], *attributes):
        if isinstance(obj, ModuleType) and not hasattr(obj, attribute):
            try:
                obj = importlib.import_module(f"{obj.__name__}.{attribute}")
                continue
            except ModuleNotFoundError:
                pass  # getattr below names what is missing
        obj = getattr(obj, attribute)
    return obj


def mismatched_calls(path: Path) -> list[str]:
    """Each call in ``path`` to a convbench object that does not bind to its signature (or names no such object)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = convbench_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        if dotted is None or dotted[0] not in names:
            continue
        where = f"{path.name}:{node.lineno}: {'.'.join(dotted)}"
        try:
            target = _resolve(names[dotted[0]], dotted[1:])
        except AttributeError as e:
            found.append(f"{where}: {e}")
            continue
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(k.arg is None for k in node.keywords):
            continue  # *args / **kwargs: not checkable without running the script
        signature = inspect.signature(target)
        try:
            signature.bind(*(None for _ in node.args), **{k.arg: None for k in node.keywords if k.arg})
        except TypeError as e:
            found.append(f"{where}{signature}: {e}")
    return found


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_script_imports_without_running(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = import_script(path, monkeypatch)
    assert module.__name__ != "__main__"


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_every_call_into_convbench_binds_to_its_signature(path: Path) -> None:
    assert mismatched_calls(path) == []


def test_the_check_sees_a_call_that_does_not_bind(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("from convbench.checks import check_goal\nimport convbench.checks as checks\n\n\n"
                      "def main():\n"
                      "    check_goal('exit_rate', 0.1, 'extra')\n"
                      "    checks.check_goal(goal='exit_rate')\n"
                      "    checks.check_goal(*['exit_rate', 0.1])\n"  # unpacked: left out
                      "    checks.no_such_function()\n", encoding="utf-8")
    found = mismatched_calls(script)
    assert [line.split(": ")[0] for line in found] == ["broken.py:6", "broken.py:7", "broken.py:9"], found
    assert "too many positional arguments" in found[0] and "missing a required argument: 'target'" in found[1]
