"""The core never imports a task: ``import dcn`` and every module under ``dcn/`` leave rfcn, fpn, deeplab
(and tools) out of ``sys.modules``; tasks register their networks with the core when they are imported."""
import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TASK_PACKAGES = ("rfcn", "fpn", "deeplab", "tools", "benchmarks")

CODE = f"""
import importlib, pkgutil, sys
import dcn
for info in pkgutil.walk_packages(dcn.__path__, "dcn."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
tasks = sorted(m for m in sys.modules if m.split(".")[0] in {TASK_PACKAGES!r})
print("modules", len([m for m in sys.modules if m.startswith("dcn")]))
print("tasks", tasks)
"""


def test_importing_every_dcn_module_imports_no_task():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    count, tasks = out.stdout.splitlines()
    assert int(count.split()[1]) > 50, out.stdout  # the walk did import the core
    assert tasks == "tasks []", out.stdout


def _task_imports(path: Path) -> list:
    """Every ``import rfcn...`` / ``from fpn... import`` in a file, function bodies included."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        found += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names if n.split(".")[0] in TASK_PACKAGES]
    return found


def test_no_dcn_source_imports_a_task_even_inside_functions():
    found = [hit for path in sorted((REPO / "dcn").rglob("*.py")) for hit in _task_imports(path)]
    assert found == [], "the core imports tasks:\n" + "\n".join(found)
