"""The layer order stated in ``convbench/__init__.py`` is the real one: a layer imports only the layers before it."""

from __future__ import annotations

import ast
from pathlib import Path

import convbench

LAYERS = ("data", "models", "train", "runtime", "export", "bench", "early_exit", "search", "report", "experiment",
          "cli")
SOURCE = Path(convbench.__file__).parent


def _imported_layers(path: Path) -> set[str]:
    """The convbench layers ``path`` imports, at its top or inside functions alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "convbench" and len(parts) > 1 and parts[1] in LAYERS:
                found.add(parts[1])
    return found


def test_layers_import_only_the_layers_before_them():
    assert ", ".join(LAYERS[:-1]).replace(", ", " → ") in convbench.__doc__.replace("\n", " ")
    upward = []
    for layer in LAYERS:
        for path in sorted((SOURCE / layer).rglob("*.py")):
            later = {other for other in _imported_layers(path) if LAYERS.index(other) > LAYERS.index(layer)}
            upward += [f"{path.relative_to(SOURCE)} imports {other}" for other in sorted(later)]
    assert upward == []


def test_the_shared_modules_import_no_layer_above_them():
    allowed = {"vocabulary": set(), "errors": set(), "io": set(), "env": set(), "artifacts": {"data"},
               "outputs": set(), "verbosity": set()}
    for name, layers in allowed.items():
        assert _imported_layers(SOURCE / f"{name}.py") <= layers, name
