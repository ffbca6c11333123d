"""The Tiltfile, evaluated for real with recording stand-ins for Tilt's built-ins.

There is no Tilt binary (nor a cluster) here, but a Tiltfile is Starlark, which Python runs as
is. Every ``docker_build_with_restart``/``k8s_resource``/``k8s_yaml`` call is recorded and checked
against the Dockerfile, the repository and the rendered dev overlay, so a renamed Deployment, a
moved package or a port that is not declared fails here rather than in someone's `tilt up`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).parent / "kubectl"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


@dataclass
class Recorded:
    """What the Tiltfile asked Tilt to do."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Built with restart support and live update (the services)."""
    plain_images: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Built without either (the connect-account Job's image)."""
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    yaml: list[str] = field(default_factory=list)
    loads: list[tuple[str, ...]] = field(default_factory=list)


def _evaluate() -> Recorded:
    recorded = Recorded()

    def docker_build_with_restart(ref: str, context: str, **kwargs: Any) -> None:
        assert ref not in recorded.images, f"{ref} built twice"
        recorded.images[ref] = {"context": context, **kwargs}

    def docker_build(ref: str, context: str, **kwargs: Any) -> None:
        assert ref not in recorded.images, f"{ref} built twice"
        recorded.plain_images[ref] = {"context": context, **kwargs}

    def k8s_resource(name: str, **kwargs: Any) -> None:
        assert name not in recorded.resources, f"resource {name} configured twice"
        recorded.resources[name] = kwargs

    builtins: dict[str, Any] = {
        "version_settings": lambda **_: None,
        "load": lambda module, *symbols: recorded.loads.append((module, *symbols)),
        "docker_build_with_restart": docker_build_with_restart,
        "docker_build": docker_build,
        "sync": lambda src, dest: ("sync", src, dest),
        "fall_back_on": lambda files: ("fall_back_on", tuple(files)),
        "kustomize": lambda path: ("kustomize", path),
        "k8s_yaml": lambda source: recorded.yaml.append(source[1]),
        "k8s_resource": k8s_resource,
    }
    source = (ROOT / "Tiltfile").read_text()
    exec(compile(source, "Tiltfile", "exec"), builtins)  # noqa: S102 - our own Tiltfile
    return recorded


@pytest.fixture(scope="module")
def tilt() -> Recorded:
    return _evaluate()


@pytest.fixture(scope="module")
def dev_objects(tilt: Recorded) -> list[dict[str, Any]]:
    [overlay] = tilt.yaml
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [obj for obj in yaml.safe_load_all(rendered) if obj]


def _workloads(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] in WORKLOADS}


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_it_uses_only_the_restart_process_extension(tilt: Recorded) -> None:
    assert tilt.loads == [("ext://restart_process", "docker_build_with_restart")]
    assert tilt.yaml == ["deploy/k8s/overlays/dev"]


def test_every_image_is_built_from_the_dockerfile_for_a_service_it_accepts(
    tilt: Recorded,
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for ref, build in tilt.images.items():
        service = ref.removeprefix("stackmcp/")
        assert build["dockerfile"] == "Dockerfile"
        assert build["context"] == "."
        assert build["build_args"] == {"SERVICE": service}
        assert f"|{service}|" in dockerfile.replace(")", "|").replace(" ", "|")
        assert build["entrypoint"][:2] == ["sh", "-c"]
        assert build["entrypoint"][2].endswith("exec /app/.venv/bin/stackmcp-service")
        assert 'ENTRYPOINT ["/app/.venv/bin/stackmcp-service"]' in dockerfile
        for path in build["only"]:
            assert (ROOT / path).exists(), path


def test_every_image_of_the_dev_overlay_is_built_and_nothing_else(
    tilt: Recorded, dev_objects: list[dict[str, Any]]
) -> None:
    used = {
        container["image"].rsplit(":", 1)[0]
        for workload in _workloads(dev_objects).values()
        for key in ("containers", "initContainers")
        for container in _pod_spec(workload).get(key, [])
        if container["image"].startswith("stackmcp/")
    }
    assert used == set(tilt.images) | set(tilt.plain_images)


def test_the_job_image_is_the_provisioning_build_without_a_command_override(
    tilt: Recorded, dev_objects: list[dict[str, Any]]
) -> None:
    """Tilt replaces the command of containers running a restart-wrapped image; the Job must
    keep ``stackmcp-connect-account``, so its image is built plainly under its own name."""
    build = tilt.plain_images["stackmcp/connect-account"]
    assert build["build_args"] == {"SERVICE": "provisioning"}
    assert build["dockerfile"] == "Dockerfile"
    assert "entrypoint" not in build
    assert "live_update" not in build
    [container] = _pod_spec(_workloads(dev_objects)["connect-account"])["containers"]
    assert container["image"] == "stackmcp/connect-account:dev"
    assert container["command"] == ["stackmcp-connect-account"]


def test_live_update_syncs_real_packages_into_the_live_tree_of_every_pod(
    tilt: Recorded, dev_objects: list[dict[str, Any]]
) -> None:
    workloads = _workloads(dev_objects)
    for ref, build in tilt.images.items():
        steps = build["live_update"]
        assert steps[0][0] == "fall_back_on"
        assert "uv.lock" in steps[0][1]
        for _, src, dest in steps[1:]:
            package = ROOT / src
            assert (package / "__init__.py").is_file(), src
            assert dest == f"/app/live/stackmcp/{package.name}"
        deployment = workloads[ref.removeprefix("stackmcp/")]
        [container] = _pod_spec(deployment)["containers"]
        env = {item["name"]: item.get("value") for item in container.get("env", [])}
        assert env.get("PYTHONPATH") == "/app/live"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/app/live", "/tmp"} <= mounts  # noqa: S108 - paths inside the container
        assert build["restart_file"].startswith("/tmp/")  # noqa: S108 - in the container


def test_resources_name_real_workloads_with_declared_ports_and_known_deps(
    tilt: Recorded, dev_objects: list[dict[str, Any]]
) -> None:
    workloads = _workloads(dev_objects)
    assert set(tilt.resources) == set(workloads), "every workload configured, no stray names"
    for name, settings in tilt.resources.items():
        declared = {
            port["containerPort"]
            for container in _pod_spec(workloads[name])["containers"]
            for port in container.get("ports", [])
        }
        for forward in settings.get("port_forwards", []):
            local, remote = (int(part) for part in forward.split(":"))
            assert remote in declared, f"{name}: port {remote} not declared"
            assert local > 1024
        for dep in settings.get("resource_deps", []):
            assert dep in tilt.resources, f"{name} depends on unknown {dep}"


def test_state_comes_before_the_services(tilt: Recorded) -> None:
    for service in ("gateway", "betterstack-worker", "provisioning", "expiry"):
        deps = tilt.resources[service]["resource_deps"]
        assert {"nats", "valkey"} <= set(deps), service
    assert "sandbox" in tilt.resources["betterstack-worker"]["resource_deps"]
    forwards = [f for s in tilt.resources.values() for f in s.get("port_forwards", [])]
    locals_ = [f.split(":")[0] for f in forwards]
    assert len(locals_) == len(set(locals_)), "two port forwards on one local port"
    assert {"8080:8080", "8081:8081"} <= set(forwards)


def test_the_entrypoint_seeds_the_live_tree_once_and_keeps_synced_files(
    tilt: Recorded, tmp_path: Path
) -> None:
    """Run the real command with ``/app`` moved under ``tmp_path``: the first start copies the
    installed packages, a restart keeps a file Tilt synced, and the service runs each time."""
    [command] = {build["entrypoint"][2] for build in tilt.images.values()}
    app = tmp_path / "app"
    installed = app / ".venv/lib/python3.11/site-packages/stackmcp/gateway"
    installed.mkdir(parents=True)
    (installed / "app.py").write_text("installed")
    (app / "live").mkdir()
    service = app / ".venv/bin/stackmcp-service"
    service.parent.mkdir(parents=True)
    service.write_text("#!/bin/sh\necho service ran\n")
    service.chmod(0o755)
    moved = command.replace("/app/", f"{app}/")

    def start() -> str:
        return subprocess.run(
            ["sh", "-c", moved], check=True, capture_output=True, text=True, timeout=10
        ).stdout

    assert start() == "service ran\n"
    live = app / "live/stackmcp/gateway/app.py"
    assert live.read_text() == "installed"
    live.write_text("synced by tilt")
    assert start() == "service ran\n"
    assert live.read_text() == "synced by tilt"
