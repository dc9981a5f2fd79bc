"""The package's import graph: layered, and inference apart from training."""

import ast
import subprocess
import sys
from pathlib import Path

import melvae

PACKAGE = Path(melvae.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports, at the top or inside a
    function (a deferred import still ties two modules together)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in names.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from melvae import api` imports the module api; `from melvae.api import
                # Melvae` the module melvae.api
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(names)
                found.update(subs or {node.module})
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in names and m != name}
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    assert len(graph) > 30
    done, active = set(), []

    def visit(module):
        if module in active:
            cycle = active[active.index(module) :] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        active.append(module)
        for dep in sorted(graph[module]):
            # e.g. melvae -> api -> checkpoint -> melvae (checkpoint once took __version__
            # from the package root), or model <-> seqmodel through a deferred import.
            visit(dep)
        active.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_bottom_modules_import_no_torch():
    graph = _imports()
    bottom = {
        "melvae.config",
        "melvae.errors",
        "melvae.version",
        "melvae.registry",
        "melvae.safeio",
    }
    for module in (
        "melvae.config",
        "melvae.layout",
        "melvae.errors",
        "melvae.version",
        "melvae.safeio",
    ):
        assert not graph[module] - bottom, module
        assert "import torch" not in (PACKAGE / (module.split(".")[1] + ".py")).read_text()


def test_inference_modules_do_not_import_training():
    code = (
        "import sys, melvae.evaluation.analysis, melvae.report.build, "
        "melvae.evaluation.evaluate, melvae.api; "
        "bad = [m for m in sys.modules "
        "if m.startswith(('melvae.training', 'lightning'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# From the bottom up: a module may import its own layer and those below it, never one above.
LAYERS = (
    ("melvae.errors", "melvae.version", "melvae.registry", "melvae.config", "melvae.layout",
     "melvae.safeio", "melvae.progress"),
    ("melvae.audio", "melvae.plots"),  # plots draws mels with Hz axes: the audio's mel scale
    ("melvae.data",),
    ("melvae.models",),
    ("melvae.generation",),
    ("melvae.kinds",),
    ("melvae.api", "melvae"),
    ("melvae.evaluation",),
    ("melvae.report",),
    ("melvae.training",),
    ("melvae.demo", "melvae.cli"),
)  # fmt: skip


def _layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") and n != "melvae" for n in names):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_no_package_imports_one_above_it():
    upward = [
        f"{a} -> {b}" for a, deps in _imports().items() for b in deps if _layer(b) > _layer(a)
    ]
    assert not upward, upward
