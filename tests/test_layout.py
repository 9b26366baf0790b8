"""The package's layout: a core library that needs only torch and tqdm, layers that import only those below
them, no import cycle, and modules that read in one sitting."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from pixelcnn.study.settings import PACKAGE_DIR

LAYERS = ("core", "study", "q1", "q2", "q3", "report")  # each may import those before it (q1..q3 not each other)
LEVEL = {"core": 0, "study": 1, "q1": 2, "q2": 2, "q3": 2, "report": 3}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The package modules a module imports (anywhere in it, type-checking imports included)."""
    name, package = module_name(path), path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pixelcnn":
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                is_module = any((PACKAGE_DIR.parent / (candidate.replace(".", "/") + suffix)).exists()
                                for suffix in (".py", "/__init__.py"))
                found.add(candidate if is_module else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pixelcnn.")}
    return found - {name}


MODULES = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != "pixelcnn"} for name, path in MODULES.items()}


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LEVEL else None


def test_each_layer_imports_only_the_layers_below_it():
    for name, targets in GRAPH.items():
        if layer(name) is None:
            continue
        for target in targets:
            if layer(target) is None:
                continue
            same = layer(target) == layer(name)
            assert same or LEVEL[layer(target)] < LEVEL[layer(name)], f"{name} imports {target}"


def longest_chain(graph: dict[str, set[str]], name: str, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The longest import chain from ``name`` in ``graph``; an AssertionError names a cycle."""
    assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
    return (name, *max((longest_chain(graph, t, (*path, name)) for t in graph[name]), key=len, default=()))


def test_the_import_graph_has_no_cycle():
    for name in GRAPH:
        longest_chain(GRAPH, name)


def test_within_each_layer_imports_are_at_most_six_modules_deep():
    """Four layers (core, study, the chapters, report), and inside each no chain of imports longer than six."""
    for part in LEVEL:
        inside = {n: {t for t in targets if layer(t) == part} for n, targets in GRAPH.items() if layer(n) == part}
        deepest = max((longest_chain(inside, n) for n in inside), key=len)
        assert len(deepest) <= 6, " -> ".join(deepest)


def test_no_module_is_longer_than_one_sitting():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_the_core_imports_with_torch_and_tqdm_alone():
    """Every core module imports in a fresh interpreter where, once torch and tqdm are loaded, no other third-party
    package and no other part of this package can be imported."""
    core = sorted(name for name in MODULES if layer(name) == "core")
    code = f"""
import sys, importlib.abc
import torch, torch.nn.functional, tqdm
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if name.startswith("pixelcnn.") and not name.startswith("pixelcnn.core"):
            raise ImportError(f"the core imported {{name}}")
        if top not in ("torch", "tqdm", "pixelcnn") and top not in sys.stdlib_module_names:
            raise ImportError(f"the core imported {{name}}")
sys.meta_path.insert(0, Refuse())
{chr(10).join(f"import {name}" for name in core)}
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
