"""The shape of the code: imports flow one way, files stay readable, every option is explained."""

from __future__ import annotations

import ast
from pathlib import Path

import typer

from deepfit.cli import app

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "deepfit"
MAX_LINES = 500


def modules() -> dict[str, Path]:
    found = {}
    for path in (SOURCE / PACKAGE).rglob("*.py"):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path], package: str = PACKAGE) -> set[str]:
    """Every deepfit module ``name`` imports, anywhere in the file (lazy imports included)."""

    def owner(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for target in targets:
            module = owner(target) if target.startswith(package) else None
            if module and module != name:
                found.add(module)
    return found


def test_no_import_cycle_anywhere_in_the_package() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                return [*stack[stack.index(other) :], other]
            if other not in state and (cycle := visit(other)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_walk_finds_a_cycle_when_there_is_one(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("from pkg.b import x\n")
    (package / "b.py").write_text("def f():\n    from pkg import a\n")
    known = {"pkg.a": package / "a.py", "pkg.b": package / "b.py", "pkg": package / "a.py"}
    assert imports("pkg.a", package / "a.py", known, "pkg") == {"pkg.b"}
    assert "pkg.a" in imports("pkg.b", package / "b.py", known, "pkg")


def test_no_source_file_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(SOURCE)): n
        for path in (SOURCE / PACKAGE).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_command_and_option_has_help_text() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert len(commands) == 14
    missing = []
    for name, command in commands.items():
        if not (command.help or "").strip():
            missing.append(name)
        for parameter in command.params:
            if (
                getattr(parameter, "param_type_name", "") == "option"
                and not (getattr(parameter, "help", "") or "").strip()
            ):
                missing.append(f"{name} {parameter.opts[0]}")
    assert missing == []
