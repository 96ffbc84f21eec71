"""Images and tables behind one interface (issue 23 item 5): the commands ask modality.py, the modalities never
climb back into the command layer, and no two modules of the package import each other (directly or round a
longer circle, counting the imports inside functions too)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from dpcgan.modality import IMAGES, TABLES, for_dataset, for_record, for_run

SRC = Path(__file__).resolve().parents[1] / "src" / "dpcgan"


def module_name(path: Path) -> str:
    parts = ["dpcgan", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every dpcgan module `path` imports, at any depth of its code (relative imports resolved)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("dpcgan")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("dpcgan"):
                out.add(target)
                out |= {f"{target}.{a.name}" for a in node.names}   # `from . import x` names a module
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    # a submodule naming its own package (`from . import x`) is no circle: Python runs the package first anyway
    return {m: {t for t in imports_of(p) if t in modules and t != m and not m.startswith(t + ".")}
            for m, p in modules.items()}


def test_no_module_imports_the_command_layer_but_the_cli(graph):
    climbing = sorted(m for m, targets in graph.items()
                      if not m.startswith(("dpcgan.commands", "dpcgan.cli", "dpcgan.__main__"))
                      and any(t.startswith("dpcgan.commands") for t in targets))
    assert climbing == []


def test_sample_and_evaluate_reach_a_modality_only_through_modality_py(graph):
    for command in ("dpcgan.commands.sample", "dpcgan.commands.evaluate"):
        direct = {t for t in graph[command] if t.startswith(("dpcgan.tables", "dpcgan.images"))}
        assert direct == set() and "dpcgan.modality" in graph[command]
    assert not {t for t in graph["dpcgan.commands.train"] if t.startswith("dpcgan.tables")}


def test_no_import_circle(graph):
    """Tarjan's strongly connected components: a component of two or more modules is a circle."""
    index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
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
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_modality_of_a_dataset_a_run_and_an_interrupted_run(tmp_path):
    assert for_dataset("records.csv") is TABLES and for_dataset("t.parquet") is TABLES
    assert for_dataset("mnist") is IMAGES and for_dataset("scans/") is IMAGES and for_dataset(None) is IMAGES
    assert for_dataset("data.txt", schema="s.toml") is TABLES and for_dataset(None, preset="table-eps1") is TABLES
    table_run, image_run = tmp_path / "t", tmp_path / "i"
    for run, model in ((table_run, {"schema": {"label": "y", "columns": {"y": {"type": "categorical",
                                                                               "categories": ["a", "b"]},
                                                                         "x": {"type": "numeric", "min": 0,
                                                                               "max": 1}}}}),
                       (image_run, {"arch": "dcgan"})):
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"config": {}, "model": model}))
    assert for_run(table_run) is TABLES and for_run(image_run) is IMAGES and for_run(None) is IMAGES
    assert for_record({"schema": "/x/s.toml"}) is TABLES and for_record({"dataset": "mnist"}) is IMAGES
    assert TABLES.unit == "rows" and IMAGES.unit == "samples"
