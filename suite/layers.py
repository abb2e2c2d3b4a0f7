"""The package's floors, bottom up, and a check (over the source, with `ast`) that no import runs up or closes a circle.

A module may import modules of its own floor or of floors below it, never above; and no chain of imports may lead
back to where it started. Every import counts, at module level or inside a function, and so do imports only for type
checking: a floor that needs something from above is in the wrong place. `python -m suite layers` prints the floors
and the problems; tests/test_layers.py asserts there are none.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# Bottom to top. A name covers the module and, for a package, everything under it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        *("suite", "suite.errors", "suite.registry", "suite.specs", "suite.formats", "suite.provenance"),
        "suite.results",
        "suite.text",  # foreign names and errors made visible and safe for the site, the figures and the reports
    ),
    ("suite.yamlio",),  # YAML and JSON Schema reading, one style for config, tasks, entries and the display schema
    ("suite.entries", "suite.config"),  # YAML -> typed specs
    ("suite.metrics", "suite.fidelity", "suite.trackers"),
    ("suite.data", "suite.models"),
    ("suite.train", "suite.families"),
    ("suite.tasks", "suite.compress", "suite.distill"),
    ("suite.artefacts",),
    ("suite.plan",),  # the parsed config against registries, families, entries, device and data
    ("suite.pipeline", "suite.measure", "suite.memory_probe", "suite.quick"),  # the jobs (quick: them in a row)
    ("suite.rank", "suite.compare", "suite.figures", "suite.summary"),  # read Parquet only
    ("suite.site",),  # the static site: formats what rank computed
    ("suite.cli", "suite.layers", "suite.__main__"),
)


def module_names(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package_dir.name, *path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def floor_of(module: str) -> int:
    """The floor of a module: that of the longest LAYERS name it is, or lies under.

    >>> floor_of("suite.compress.onnx.runtime") > floor_of("suite.models")
    True
    >>> floor_of("suite")
    0
    """
    best, floor = "", -1
    for number, names in enumerate(LAYERS):
        for name in names:
            covers = module == name or (name != "suite" and module.startswith(name + "."))
            if covers and len(name) > len(best):
                best, floor = name, number
    if floor < 0:
        raise KeyError(f"{module} is on no floor: add it to suite/layers.py LAYERS")
    return floor


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported suite module, line) for every import in the file, wherever it stands."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "suite" or alias.name.startswith("suite."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not (target == "suite" or target.startswith("suite.")):
                continue
            for alias in node.names:
                child = f"{target}.{alias.name}"
                yield (child if child in known else target), node.lineno


def check(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Every upward import and every import circle, as one line each naming the file and line ([] when clean)."""
    known = module_names(package_dir)
    problems = []
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        try:
            floor = floor_of(module)
        except KeyError as exc:
            problems.append(str(exc.args[0]))
            continue
        graph[module] = set()
        for target, line in imports_of(module, path, known):
            if target == module or target not in known:
                continue
            graph[module].add(target)
            try:
                target_floor = floor_of(target)
            except KeyError:
                continue
            if target_floor > floor:
                problems.append(
                    f"{path.relative_to(package_dir.parent)}:{line}: {module} (floor {floor}) imports {target} "
                    f"(floor {target_floor}), which is above it"
                )
    problems += [f"import circle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan), each closed on its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [[*component, component[0]] for component in components]
