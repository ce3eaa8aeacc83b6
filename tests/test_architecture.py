"""The house keeps its shape: no import cycles, Ray only in the orchestrator,
a torch-free store, docs that point only at files in the repository, and the
paper suites shipped inside the package."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lore_bench"


def module_imports() -> dict[str, set[str]]:
    """Module -> the lore_bench modules it imports (static, every import statement)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                candidates = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            deps.update(c for c in candidates if c in modules and c != name and not name.startswith(c + "."))
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]; counter[0] += 1
                    stack.append(child); on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop(); on_stack.discard(member); component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycles():
    assert cycles(module_imports()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_orchestrator_imports_ray():
    importers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n == "ray" or n.startswith("ray.") for n in names):
                importers.add(path.relative_to(PACKAGE).parts[:2])
    assert importers == {("suite", "orchestrate")}


def imported_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_store_and_failure_rows_need_no_torch():
    modules = imported_by("import lore_bench.results.store, lore_bench.results.rows")
    assert "torch" not in modules and "ray" not in modules


def test_dry_run_starts_no_ray(tmp_path):
    modules = imported_by("import os; os.environ['HF_HUB_OFFLINE'] = '1'\n"
                          "from lore_bench.cli import main\n"
                          f"assert main(['run', 'suite.yaml', '--dry-run', '--results', '{tmp_path}']) == 0")
    assert "ray" not in modules


#: Files outside the repository that earlier docs cited (spelled so this file does not match itself).
OUTSIDE = ("DESIGN" + ".md", "shared" + "/specs", ".." + "/shared")
REFERENCE = re.compile(r"(?<![\w/.])((?:docs|tests|perf|tools|lore_bench)/[\w./-]+\.(?:md|py|csv|yaml|json))")


def test_docs_and_code_cite_only_files_in_the_repository():
    missing = []
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *PACKAGE.rglob("*.py"),
                 *(ROOT / "tests").rglob("*.py"), *(ROOT / "perf").rglob("*.py")]:
        text = path.read_text()
        assert not [o for o in OUTSIDE if o in text], path
        for ref in REFERENCE.findall(text):
            if not (ROOT / ref.rstrip(".")).exists():
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert missing == []


def test_every_module_opens_with_a_docstring():
    undocumented = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                    if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert undocumented == []


@pytest.mark.slow
def test_wheel_ships_the_paper_suites_and_no_tools(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("lore_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("lore_bench/suites/")}
    assert {"table1_fewshot_vitb16.yaml", "table3_easy_to_hard.yaml", "table4_frozen_features.yaml"} <= shipped
    assert not any(n.startswith(("tools/", "tests/", "perf/")) for n in names)


def test_ls_suites_lists_the_shipped_suites(capsys):
    from lore_bench.cli import main

    assert main(["ls", "suites"]) == 0
    out = capsys.readouterr().out
    assert "table1_fewshot_vitb16" in out and str(PACKAGE / "suites") in out
