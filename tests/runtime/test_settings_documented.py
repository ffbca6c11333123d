"""Settings and docs agree: the configuration reference is generated and current, every
documented variable is real.

A setting is a field of a config Struct that some service loads with
``load_section(Cls, "SECTION")``; its variable is ``STACKMCP_<SECTION>_<FIELD>``.
``tools/gen_settings_doc.py`` finds the calls and the Structs by reading the source (``ast``)
and writes the reference table of docs/operator-guide.md from the Structs' defaults and field
docstrings; these tests run the same generator and compare. The few ``STACKMCP_*`` names the docs
use that are not settings are allow-listed, and each must still be used by the code the docs
describe.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from stackmcp.contracts.subjects import Subjects

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operator-guide.md"
SOURCE_ROOTS = [*sorted(ROOT.glob("services/*/src")), *sorted(ROOT.glob("libs/*/src"))]
VARIABLE = re.compile(r"STACKMCP_[A-Z0-9_]+")

NOT_SETTINGS = {
    "STACKMCP_API_TOKEN": "the variable generated Claude Desktop entries read the API token from",
    "STACKMCP_EVENTS": "the JetStream stream of events (under the default prefix)",
    "STACKMCP_AUDIT": "the JetStream stream of the audit trail (under the default prefix)",
    "STACKMCP_TEST_CHROMIUM": "the Chromium binary the browser tests drive",
    "STACKMCP_DOCS_SCREENSHOTS": "=1 makes the browser tests refresh docs/screenshots/",
}
"""Names the docs use that are not ``load_section`` settings, and what they are."""
COMPOSED = {
    "STACKMCP_EVENTS": lambda: Subjects("stackmcp").events_stream,
    "STACKMCP_AUDIT": lambda: Subjects("stackmcp").audit_stream,
}
"""Allow-listed names the code builds rather than spells out: how to build each."""


@cache
def generator() -> ModuleType:
    """``tools/gen_settings_doc.py``, imported from its path (``tools/`` is not a package)."""
    path = ROOT / "tools" / "gen_settings_doc.py"
    spec = importlib.util.spec_from_file_location("gen_settings_doc", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def settings() -> dict[str, object]:
    """Every setting any service loads, by variable name (the generator's scan)."""
    found: dict[str, object] = generator().settings()
    return found


# Reading the docs --------------------------------------------------------------------------


def _documents() -> list[Path]:
    deploy = ROOT / "deploy" / "k8s"
    return [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *sorted((ROOT / "docs").rglob("*.md")),
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


def test_the_generated_reference_is_up_to_date() -> None:
    gen = generator()
    current = GUIDE.read_text()
    assert current == gen.splice(current, gen.render_table()), (
        "docs/operator-guide.md's settings table is out of date: run "
        "./bin/uv run python tools/gen_settings_doc.py"
    )


def test_every_setting_is_in_the_operator_guide() -> None:
    text = GUIDE.read_text()
    block = text[text.index(generator().BEGIN) : text.index(generator().END)]
    documented = set(VARIABLE.findall(block))
    missing = sorted(
        f"{s.variable} ({s.struct})"
        for s in generator().settings().values()
        if s.variable not in documented
    )
    assert not missing, "settings missing from docs/operator-guide.md:\n" + "\n".join(missing)


def test_the_generator_check_passes() -> None:
    assert generator().main(["--check"]) == 0


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
