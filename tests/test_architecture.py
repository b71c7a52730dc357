"""The layout's rules, checked: no import cycles (lazy imports included), small modules and
classes, and each layer importing only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"heimdall_io": ROOT / "heimdall_io", "heimdall_cli": ROOT / "cli"}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 200

# What each layer of heimdall_io may import (besides the SHARED modules below).
ALLOWED = {
    "format": {"format"},
    "codec": {"codec", "format"},
    "onnx": {"onnx"},
    "files": {"files", "codec", "format", "onnx"},
    "tools": {"tools", "files", "codec", "format", "onnx"},
    "storage": {"storage"},
    "signing": {"signing", "codec", "format"},
    "service": {"service", "codec", "format", "onnx", "files", "tools", "storage", "signing"},
    "api": {"api", "service", "codec", "format", "onnx", "storage", "signing", "mlflow"},
    # An adapter over the MLflow client: it uses the service; the service never uses it.
    "mlflow": {"mlflow", "service", "storage", "format", "codec", "files", "onnx", "signing"},
    # The client side of moving models: remotes over HTTP, bundle URLs (s3://, https://).
    "transfer": {"transfer", "service", "codec", "format", "files", "storage"},
}
SHARED = {"errors", "fileaccess", "lazy_exports", "setting_values", "sizes", "version"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, at any depth of the code (lazy imports too)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import submodule` imports the submodule; a name imports pkg.
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module
                       for a in node.names]  # fmt: skip
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_import_cycles() -> None:
    # Package __init__ files re-export their submodules; edges into a package's own
    # __init__ from inside it are how Python packages work, not cycles of design.
    def edges(name: str) -> set[str]:
        return {t for t in GRAPH[name] if not name.startswith(t + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges(node)):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_and_class_sizes(name: str) -> None:
    source = MODULES[name].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{name} is over {MAX_MODULE_LINES} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"{name}.{node.name} is {length} lines"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.count(".") >= 1))
def test_layers_import_only_below(name: str) -> None:
    parts = name.split(".")
    if parts[0] != "heimdall_io" or parts[1] not in ALLOWED:
        return
    allowed = ALLOWED[parts[1]] | SHARED
    for target in GRAPH[name]:
        tparts = target.split(".")
        if tparts[0] != "heimdall_io" or len(tparts) == 1:
            assert len(tparts) > 1 or parts[1] == "api", f"{name} imports the package root"
            continue
        assert tparts[1] in allowed, f"{name} (layer {parts[1]}) imports {target}"


def test_library_never_imports_the_cli() -> None:
    for name, targets in GRAPH.items():
        # `python -m heimdall_io` runs the CLI: the one place the library names it.
        if name.startswith("heimdall_io") and name != "heimdall_io.__main__":
            assert not any(t.startswith("heimdall_cli") for t in targets), name
