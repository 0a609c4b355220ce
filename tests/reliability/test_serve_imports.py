"""Issue 11, serve side: bot/serve has no import circle, not even through an import inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

SERVE = Path(__file__).resolve().parents[2] / "bot" / "serve"


def _serve_imports(path: Path) -> set[str]:
    """Every bot.serve module `path` imports, at any depth of the file (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot.serve"):
            if node.module == "bot.serve":
                found |= {f"bot.serve.{a.name}" for a in node.names if (SERVE / f"{a.name}.py").exists()}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bot.serve.")}
    return found


def test_serve_modules_import_each_other_without_a_cycle():
    graph = {f"bot.serve.{p.stem}": _serve_imports(p) for p in SERVE.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(mod: str, path: list[str]) -> None:
        state[mod] = 1
        for dep in graph.get(mod, ()):
            assert state.get(dep) != 1, "import circle: " + " -> ".join(path + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[mod] = 2

    for mod in graph:
        if mod not in state:
            visit(mod, [mod])
    assert "bot.serve.api" not in graph["bot.serve.chat"]
    assert "bot.serve.common" in graph["bot.serve.chat"] and "bot.serve.common" in graph["bot.serve.api"]


def test_supervising_process_modules_do_not_pull_in_gradio():
    """app.py's parent (with --workers) imports bot.serve.server only: no FastAPI app, no Gradio."""
    import subprocess
    import sys

    code = "import sys, bot.serve.server; print('gradio' in sys.modules, 'bot.core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(SERVE.parents[1]), check=True).stdout.split()
    assert out == ["False", "False"]
