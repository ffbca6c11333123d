"""The docs stand on their own: every relative link leads to a file (and heading) of the
repository, and nothing points outside it (a clone has no ``../shared``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "README.md",
    ROOT / "deploy" / "k8s" / "README.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
OUTSIDE = re.compile(r"\]\((\.\./)+shared|/work/shared|\]\(\.\./\.\.")


def _text(path: Path) -> str:
    """The document without its code blocks (where ``](`` is code, not a link)."""
    return FENCE.sub("", path.read_text())


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _slug(line.lstrip("#")) for line in _text(path).splitlines() if re.match(r"#{1,6} ", line)
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_link_leaves_the_repository(doc: Path) -> None:
    found = OUTSIDE.findall(doc.read_text())
    assert not found, f"{doc.relative_to(ROOT)} points outside the repository: {found}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(doc: Path) -> None:
    broken = []
    for target in LINK.findall(_text(doc)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        file = (doc.parent / file_part).resolve() if file_part else doc
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {broken}"


# The README --------------------------------------------------------------------------------

README = ROOT / "README.md"
UP_SOURCES = [
    *sorted((ROOT / "services" / "cli" / "src").rglob("*.py")),
    ROOT / "services" / "provisioning" / "src" / "stackmcp" / "provisioning" / "clientconfig.py",
]


def _sample_up_output() -> list[str]:
    """The lines of the README's sample ``stackmcp up`` output (its first code block that
    starts with ``stackmcp: starting``)."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", README.read_text(), re.MULTILINE | re.DOTALL)
    for _, block in blocks:
        if block.startswith("stackmcp: starting"):
            return block.splitlines()
    raise AssertionError("README.md has no sample `stackmcp up` output")


def test_the_readme_stays_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move details to docs/"


def test_the_sample_up_output_shows_the_console_and_comes_from_the_code() -> None:
    sample = _sample_up_output()
    assert any(line.startswith("Web console: http") for line in sample), sample
    source = "\n".join(path.read_text() for path in UP_SOURCES)
    labels = {
        line.split(":", 1)[0]
        for line in sample
        if re.match(r"[A-Z][A-Za-z ]+:( |$)", line) and not line.startswith("Note")
    }
    assert labels >= {"Web console", "Admin API", "Admin token", "MCP URL"}, labels
    unknown = sorted(label for label in labels if f"{label}:" not in source)
    assert not unknown, (
        f"the README's sample `up` output has lines the code never prints: {unknown}"
    )
