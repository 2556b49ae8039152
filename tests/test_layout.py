"""The shape of the package: one-way imports between stages, small modules, small functions.

These are the limits issue 15 set; a change that breaks one should split the module or function
rather than raise the limit.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "addrcode"
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 90
MAX_CLI_LINES = 600
GENERATED = {"normalize/tables_au.py"}  # generated data tables, exempt from the size limits

# Layers, top to bottom: a module may import its own layer or any layer below, never above.
LAYERS = [
    {"cli", "cli_group", "cli_options", "cli_region", "cli_station", "cli_delivery", "cli_zones", "__main__"},
    {"batch", "outputs", "delivery"},
    {"stations"},
    {"geocoding", "codes", "grid", "zones"},
    {"normalize"},
    {"records", "errors", "config", "packaged", "files", ""},
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("addrcode",) + parts)] = path
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for type hints only, never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        out.update(c for c in candidates if c in modules and c != name)
    return out


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in tests/test_layout.py")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_imports_never_go_up_a_layer():
    upward = [f"{a} -> {b}" for a, targets in _graph().items() for b in targets
              if b != "addrcode" and _layer(b) < _layer(a)]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            if nxt == "addrcode":
                continue  # the lazy package face
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).as_posix() not in GENERATED:
            yield path


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_and_function_sizes(path):
    text = path.read_text()
    limit = MAX_CLI_LINES if path.name == "cli.py" else MAX_MODULE_LINES
    lines = len(text.splitlines())
    assert lines <= limit, f"{lines} lines; split the module"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_layer_check_would_catch_an_upward_import(tmp_path):
    # The checker itself must be able to fail: a stations module importing the CLI is upward.
    assert _layer("addrcode.stations.table") > _layer("addrcode.cli")
    assert _layer("addrcode.normalize.us") > _layer("addrcode.geocoding.geocoder")


def test_code_passes_ruff():
    """The project's lint rules (pyproject.toml [tool.ruff]) hold for the package, tests, scripts and benchmarks."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


# Dependency floors that exclude known-vulnerable releases (issue 19, item 7): pyarrow 14.0.0 runs
# arbitrary code on an untrusted Parquet/IPC file (CVE-2023-47248, fixed in 14.0.1); Pillow before
# 12.3.0 has known image-decoding CVEs (CVE-2026-25990 PSD out-of-bounds write before 12.1.1,
# CVE-2026-40192 FITS decompression bomb before 12.2.0, the PYSEC-2026-225x set before 12.3.0).
DEPENDENCY_FLOORS = {"pyarrow": (14, 0, 1), "pillow": (12, 3, 0)}


def _project() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _requirements() -> list[str]:
    project = _project()
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return reqs


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_dependency_floors_exclude_known_vulnerable_versions():
    """Every mention of pyarrow and Pillow in pyproject.toml has a `>=` floor at or above the fixed release,
    and the installed versions (where installed) meet it."""
    import re
    from importlib import metadata

    seen = {name: 0 for name in DEPENDENCY_FLOORS}
    for req in _requirements():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*(.*)", req)
        name = m.group(1).lower().replace("_", "-")
        if name not in DEPENDENCY_FLOORS:
            continue
        seen[name] += 1
        floor = re.search(r">=\s*([0-9][0-9.]*)", m.group(3))
        assert floor, f"{req!r}: no >= floor"
        assert _version(floor.group(1)) >= DEPENDENCY_FLOORS[name], f"{req!r}: floor below {DEPENDENCY_FLOORS[name]}"
    assert all(seen.values()), seen  # the check looked at each package
    for name, want in DEPENDENCY_FLOORS.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        got = tuple(int(p) for p in re.findall(r"\d+", installed)[:3])
        assert got >= want, f"installed {name} {installed} is below the floor {want}"


def test_pynacl_stays_declared():
    """pynacl is a runtime dependency (Ed25519 point checks), so it keeps its place in `dependencies`."""
    assert any(r.lower().startswith("pynacl>=") for r in _project()["dependencies"])
