"""The import rules of docs/architecture.md, checked on the source: a rule that only lives in a doc drifts.

Module-level imports (what runs when a module is imported) must form no cycle; some directions are
forbidden at any level, function-level imports included. Tests and migrations are outside the rules.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "registry_portal",
    "accounts",
    "registry",
    "cards",
    "findings",
    "approvals",
    "audit",
    "notifications",
    "ops",
    "evidence",
)
APPS = ("accounts", "registry", "cards", "findings", "approvals", "audit", "notifications", "ops", "evidence")
SIZE_LIMIT = 550  # lines; "no module much over 500"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).parts
            if "tests" in rel or "migrations" in rel:
                continue
            found[_module_name(path)] = path
    return found


SOURCES = _sources()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> tuple[set[str], set[str]]:
    """(modules imported at module level, modules imported anywhere), as dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top, anywhere = set(), set()

    def targets(node) -> set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # ``from x import y`` imports x, and x.y when y is a module.
        return {base} | {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in SOURCES}

    def visit(nodes, at_top: bool):
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = targets(node)
                anywhere.update(names)
                if at_top:
                    top.update(names)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, at_top)
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        anywhere.update(targets(inner))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(ast.iter_child_nodes(node), False)
            elif isinstance(node, ast.ClassDef | ast.If | ast.Try | ast.With | ast.For | ast.While):
                visit(ast.iter_child_nodes(node), at_top)
            elif hasattr(node, "body") or hasattr(node, "handlers"):
                visit(ast.iter_child_nodes(node), at_top)

    visit(tree.body, True)
    return top, anywhere


GRAPH = {module: _imports(module, path) for module, path in SOURCES.items()}


def _ours(names: set[str]) -> set[str]:
    """Our modules among ``names``; importing a.b.c runs a and a.b too."""
    result = set()
    for name in names:
        parts = name.split(".")
        for n in range(1, len(parts) + 1):
            prefix = ".".join(parts[:n])
            if prefix in SOURCES:
                result.add(prefix)
    return result


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def connect(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts))}


def test_the_checker_sees_our_modules_and_their_imports():
    assert "approvals.views" in GRAPH and "registry.sync" in SOURCES or "registry.sync.reconcile" in SOURCES
    top, anywhere = GRAPH["approvals.views"]
    assert "registry.selectors" in _ours(top)
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_level_import_cycle():
    # A package importing its own submodules (``__init__`` re-exports) is not a cycle: drop edges to parents.
    edges = {module: _ours(top) - {module} - _parents(module) for module, (top, _) in GRAPH.items()}
    assert _cycles(edges) == []


def _app(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("app", APPS)
def test_apps_import_only_downwards(app):
    """approvals → cards → registry → audit, accounts → registry (the roles page assigns model owners) → audit
    (and registry_portal.roles, the shared names)."""
    allowed = {
        "audit": {"audit"},
        "accounts": {"accounts", "registry", "audit"},
        "registry": {"registry", "audit"},
        "cards": {"cards", "registry", "audit"},
        "findings": {"findings", "cards", "registry", "audit"},
        "approvals": {"approvals", "findings", "cards", "registry", "audit", "notifications"},
        "notifications": {"notifications", "audit"},
        # probes and metrics read the other apps' rows; nothing imports ops (test below)
        "ops": {"ops", "registry", "approvals", "notifications", "audit"},
        # the evidence pack reads every governed app; nothing imports evidence (test below)
        "evidence": {"evidence", "approvals", "findings", "cards", "registry", "audit"},
    }[app]
    wrong = {
        (module, target)
        for module, (_, anywhere) in GRAPH.items()
        if _app(module) == app
        for target in _ours(anywhere)
        if _app(target) not in allowed
        and target
        not in ("registry_portal", "registry_portal.roles", "registry_portal.access", "registry_portal.signing")
        # the Celery app is how tasks are registered; the read-only ModelAdmin every app's admin.py shares
        and target not in ("registry_portal.celery", "registry_portal.admin")
    }
    assert wrong == set()


def test_nothing_imports_ops():
    """ops sits on top: it reads everyone's rows, no app depends on it (settings and urls name it as strings
    and one include)."""
    wrong = {
        (module, target)
        for module, (_, anywhere) in GRAPH.items()
        if _app(module) != "ops"
        for target in _ours(anywhere)
        if _app(target) == "ops"
    }
    assert wrong == set()


def test_nothing_imports_evidence():
    """evidence sits on top, beside ops: it reads the governed apps, none of them depends on it (the one API
    mounts its router, as it mounts every app's; the URLs include it by name)."""
    wrong = {
        (module, target)
        for module, (_, anywhere) in GRAPH.items()
        if _app(module) != "evidence" and module != "registry_portal.api"
        for target in _ours(anywhere)
        if _app(target) == "evidence"
    }
    assert wrong == set()


def test_the_offline_verifier_imports_nothing_of_ours_and_only_the_standard_library_and_cryptography():
    """``evidence/verify_evidence.py`` is copied alone into every evidence.zip and run where there is no Django."""
    _, anywhere = GRAPH["evidence.verify_evidence"]
    roots = {name.split(".")[0] for name in anywhere}
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


def test_models_and_selectors_never_import_services():
    wrong = {
        (module, target)
        for module, (_, anywhere) in GRAPH.items()
        if module.rpartition(".")[2] in ("models", "selectors")
        or any(f".{p}." in f"{module}." for p in ("models", "selectors"))
        for target in _ours(anywhere)
        if ".services" in f".{target}." or target.endswith(".services")
    }
    assert wrong == set()


def test_only_the_client_imports_mlflow():
    importers = {
        module
        for module, (_, anywhere) in GRAPH.items()
        if any(n == "mlflow" or n.startswith("mlflow.") for n in anywhere)
    }
    assert importers == {"registry.mlflow_client"}


def test_no_module_much_over_500_lines():
    sizes = {module: len(path.read_text().splitlines()) for module, path in SOURCES.items()}
    assert {module: n for module, n in sizes.items() if n > SIZE_LIMIT} == {}
