"""The shape of the tree: business rules stay below the web framework."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ceir"
WEB_FRAMEWORKS = ("fastapi", "starlette")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_web_edge(module: str) -> bool:
    """web/ itself and the thin HTTP edges of the domain packages (routers and dependencies)."""
    last = module.rsplit(".", 1)[-1]
    return (
        module == "ceir.web"
        or module.startswith("ceir.web.")
        or last.endswith(("api", "pages"))
        or last == "deps"
    )


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function alike."""
    found: set[str] = set()
    # The package a relative import starts from: the module's own, or the package itself.
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                start = ".".join(package[: len(package) - node.level + 1])
                base = f"{start}.{base}" if base else start
            found.add(base)
            # `from ceir.citizens import pages` imports the module ceir.citizens.pages.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _rule_modules() -> dict[str, set[str]]:
    modules = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}
    return {name: imports for name, imports in modules.items() if not _is_web_edge(name)}


def test_only_web_edges_import_fastapi() -> None:
    offenders = sorted(
        f"{module} imports {imported}"
        for module, imports in _rule_modules().items()
        for imported in imports
        if imported.split(".", 1)[0] in WEB_FRAMEWORKS
    )
    assert offenders == []


def test_rules_below_the_web_import_no_web_edge() -> None:
    """Not even through ceir's own web modules: a service that needs gettext imports ceir.i18n."""
    offenders = sorted(
        f"{module} imports {imported}"
        for module, imports in _rule_modules().items()
        for imported in imports
        if imported.startswith("ceir.") and _is_web_edge(imported)
    )
    assert offenders == []


def test_the_architecture_check_sees_an_edge_import() -> None:
    """The checks above would notice a service importing FastAPI or a page module."""
    assert _is_web_edge("ceir.citizens.pages") and _is_web_edge("ceir.partners.declarations_api")
    assert not _is_web_edge("ceir.citizens.service") and not _is_web_edge("ceir.i18n")
    imports = _imports(PACKAGE / "web" / "app.py")
    assert "fastapi" in imports and "ceir.citizens.pages" in imports


def test_only_the_app_includes_routers() -> None:
    """Every router joins the app in web/app.py; none is included from the bottom of another."""
    including = sorted(
        _module_name(path)
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "web" / "app.py"
        and any(
            isinstance(node, ast.Attribute) and node.attr == "include_router"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert including == []
