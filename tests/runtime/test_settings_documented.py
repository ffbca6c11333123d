"""Settings and docs agree: every setting is documented, every documented variable is real.

A setting is a field of a config Struct that some service loads with
``load_section(Cls, "SECTION")``; its variable is ``STACKMCP_<SECTION>_<FIELD>``. The calls and
the Structs are found by reading the source (``ast``), not by importing services, so a service
being edited elsewhere cannot hide a setting. The few ``STACKMCP_*`` names the docs use that are
not settings are allow-listed, and each must still be used by the code the docs describe.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from stackmcp.contracts.subjects import Subjects

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [*sorted(ROOT.glob("services/*/src")), *sorted(ROOT.glob("libs/*/src"))]
VARIABLE = re.compile(r"STACKMCP_[A-Z0-9_]+")

NOT_SETTINGS = {
    "STACKMCP_API_TOKEN": "the variable generated Claude Desktop entries read the API token from",
    "STACKMCP_EVENTS": "the JetStream stream of events (under the default prefix)",
    "STACKMCP_AUDIT": "the JetStream stream of the audit trail (under the default prefix)",
    "STACKMCP_TEST_CHROMIUM": "the Chromium binary the browser tests drive",
}
"""Names the docs use that are not ``load_section`` settings, and what they are."""
COMPOSED = {
    "STACKMCP_EVENTS": lambda: Subjects("stackmcp").events_stream,
    "STACKMCP_AUDIT": lambda: Subjects("stackmcp").audit_stream,
}
"""Allow-listed names the code builds rather than spells out: how to build each."""


@dataclass(frozen=True)
class Setting:
    """One ``STACKMCP_<SECTION>_<FIELD>`` variable and where it is loaded."""

    variable: str
    struct: str
    loaded_in: str


# Reading the source ------------------------------------------------------------------------


@cache
def _modules() -> dict[str, Path]:
    """Every source module by dotted name (``stackmcp.runtime.config`` → its file)."""
    modules: dict[str, Path] = {}
    for root in SOURCE_ROOTS:
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _resolve(
    module: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()
) -> ast.ClassDef:
    """The class ``name`` means inside ``module``: defined there, or imported (followed)."""
    assert (module, name) not in seen, f"import cycle resolving {name} in {module}"
    tree = _tree(_modules()[module])
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef) and statement.name == name:
            return statement
    for node in ast.walk(tree):  # imports inside functions too
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    assert source in _modules(), f"{name} comes from outside: {source}"
                    return _resolve(source, alias.name, seen | {(module, name)})
    raise AssertionError(f"cannot find class {name} from {module}")


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``import from`` names, relative imports made absolute."""
    if not node.level:
        return node.module or ""
    is_package = _modules()[module].name == "__init__.py"
    package = module.split(".")[: len(module.split(".")) - node.level + is_package]
    return ".".join([*package, *([node.module] if node.module else [])])


def _fields(module: str, name: str) -> list[str]:
    """Field names of a Struct, its own Struct bases' first (``ClassVar`` and ``_x`` skipped)."""
    cls = _resolve(module, name)
    fields: list[str] = []
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id != "Struct":
            fields += _fields(_defining_module(module, base.id), base.id)
    for node in cls.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and "ClassVar" not in ast.unparse(node.annotation)
            and not node.target.id.startswith("_")
        ):
            fields.append(node.target.id)
    return fields


def _defining_module(module: str, name: str) -> str:
    """The module whose source defines class ``name`` as seen from ``module``."""
    cls = _resolve(module, name)
    for candidate, path in _modules().items():
        if cls in _tree(path).body:
            return candidate
    raise AssertionError(f"no module defines {name}")


def _load_section_calls() -> Iterator[tuple[str, str, str, int]]:
    """``(module, struct name, section, line)`` of every ``load_section(Cls, "SECTION")``."""
    for module, path in sorted(_modules().items()):
        for node in ast.walk(_tree(path)):
            if not (isinstance(node, ast.Call) and _called(node) == "load_section"):
                continue
            cls, section = node.args[0], node.args[1]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            assert isinstance(cls, ast.Name), f"{where}: load_section of a non-name {cls}"
            assert isinstance(section, ast.Constant), f"{where}: the section must be a literal"
            assert isinstance(section.value, str), f"{where}: the section must be a string"
            yield module, cls.id, section.value, node.lineno


def _called(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


@cache
def settings() -> dict[str, Setting]:
    """Every setting any service loads, by variable name."""
    found: dict[str, Setting] = {}
    for module, struct, section, line in _load_section_calls():
        for field in _fields(module, struct):
            variable = f"STACKMCP_{section.upper()}_{field.upper()}"
            found.setdefault(variable, Setting(variable, struct, f"{module}:{line}"))
    return found


# Reading the docs --------------------------------------------------------------------------


def _documents() -> list[Path]:
    deploy = ROOT / "deploy" / "k8s"
    return [
        ROOT / "README.md",
        *sorted(deploy.rglob("*.env")),
        *sorted(deploy.rglob("*.yaml")),
    ]


def _named_in(path: Path) -> set[str]:
    """``STACKMCP_*`` names in a document (a prefix such as ``STACKMCP_GATEWAY_`` left out)."""
    return {name for name in VARIABLE.findall(path.read_text()) if not name.endswith("_")}


def _uses_outside_docs(name: str) -> list[Path]:
    """Source, support and script files (not docs, not this test) that mention ``name``."""
    places = [*SOURCE_ROOTS, ROOT / "tests" / "support", ROOT / "bin"]
    hits = []
    for place in places:
        for path in place.rglob("*"):
            if path.is_file() and path.suffix not in {".md", ".pyc"}:
                try:
                    if name in path.read_text():
                        hits.append(path)
                except UnicodeDecodeError:
                    continue
    return hits


# Tests -------------------------------------------------------------------------------------


def test_the_scan_finds_the_settings_every_service_loads() -> None:
    """A guard on the scan itself: known settings of each kind of Struct are found."""
    found = settings()
    for variable in (
        "STACKMCP_NATS_REQUEST_TIMEOUT",
        "STACKMCP_REDIS_URL",
        "STACKMCP_PROVISIONING_BODY_TIMEOUT",
        "STACKMCP_ADMIN_TOKEN_FILE",
        "STACKMCP_LOG_TRACEBACKS",
        "STACKMCP_HEALTH_PORT",
        "STACKMCP_CRYPTO_OLD_KEYS",
        "STACKMCP_GATEWAY_PORT",
        "STACKMCP_WORKER_CURSOR_TTL",
        "STACKMCP_EXPIRY_BATCH",
        "STACKMCP_SANDBOX_TOKEN",
        "STACKMCP_UP_INFO",
        "STACKMCP_BOOTSTRAP_ACCOUNT_NAME",
    ):
        assert variable in found, sorted(found)


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = _named_in(ROOT / "README.md")
    missing = sorted(
        f"{s.variable} ({s.struct}, loaded in {s.loaded_in})"
        for s in settings().values()
        if s.variable not in documented
    )
    assert not missing, "settings missing from README.md's Configuration section:\n" + "\n".join(
        missing
    )


def test_every_documented_variable_is_a_real_setting() -> None:
    known = set(settings()) | set(NOT_SETTINGS)
    unknown = sorted(
        f"{name} (in {path.relative_to(ROOT)})"
        for path in _documents()
        for name in _named_in(path)
        if name not in known
    )
    assert not unknown, "variables named in the docs that no service reads:\n" + "\n".join(unknown)


def test_each_name_allowed_without_a_setting_is_still_used() -> None:
    unused = sorted(
        name
        for name in NOT_SETTINGS
        if not (COMPOSED[name]() == name if name in COMPOSED else _uses_outside_docs(name))
    )
    assert not unused, f"allow-listed names nothing uses any more: {unused}"
    settings_too = sorted(name for name in NOT_SETTINGS if name in settings())
    assert not settings_too, f"allow-listed names that are settings now: {settings_too}"
