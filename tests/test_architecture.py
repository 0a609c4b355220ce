"""The package's layering: errors at the ground floor, and no import circle anywhere (function-level imports
count too: a circle hidden inside a function is still a circle)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bot"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: Path) -> set[str]:
    """Every bot.* module that `path` imports, at any depth of the file (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bot"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot") and node.level == 0:
            for alias in node.names:  # "from bot import prompts" imports the module bot.prompts
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (ROOT / Path(*candidate.split("."))).with_suffix(".py").exists()
                          or (ROOT / Path(*candidate.split("."))).is_dir() else node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in project_imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_error_module_imports_nothing_of_the_project():
    assert project_imports(PACKAGE / "errors.py") == set()


def test_no_module_imports_itself_through_a_circle():
    edges = graph()
    # A package's __init__ importing its own submodules is not a circle of the layering.
    edges = {m: {d for d in deps if not (m.count(".") and d.startswith(m + "."))} for m, deps in edges.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_lexical_module_touches_the_segmentation_dictionary():
    """rjieba's dictionary is process-global: one module owns it, so results never depend on import order."""
    users = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if "import rjieba" in p.read_text(encoding="utf-8"))
    assert users == ["bot.lexical"]
