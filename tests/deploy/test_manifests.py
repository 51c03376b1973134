"""deploy/: the container, compose and Kubernetes files pass their linters and match the proxy."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy import config
from proxy.accounts import hash_secret
from tests.support.procs import ROOT

DEPLOY = ROOT / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
MANIFESTS = [p for p in K8S if p.name != "kustomization.yaml"]
BIN = Path(sys.executable).parent


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def test_hadolint_passes_the_dockerfile() -> None:
    result = tool("hadolint", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_passes_deploy() -> None:
    result = tool("yamllint", "--strict", str(DEPLOY))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("manifest", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_kubernetes_validate_passes_each_manifest(manifest: Path) -> None:
    result = tool("kubernetes-validate", "--strict", str(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def env_names(toml_text: str) -> set[str]:
    return set(re.findall(r'"env:([A-Z0-9_]+)"', toml_text))


def fake_environ(names: set[str]) -> dict[str, str]:
    """A value of the right form for every env: name (made here, never stored)."""
    environ = {}
    for name in names:
        if name.endswith("SECRET_HASH"):
            environ[name] = hash_secret(secrets.token_urlsafe(8), n=1024)
        else:
            environ[name] = secrets.token_urlsafe(32)
    return environ


@pytest.mark.parametrize("where", ["k8s", "compose"])
def test_every_config_key_the_deploy_files_set_exists(where: str) -> None:
    if where == "k8s":
        text = docs("configmap.yaml")[0]["data"]["proxy.toml"]
    else:
        text = (DEPLOY / "compose" / "proxy.toml").read_text()
    settings = config.parse(tomllib.loads(text), where, fake_environ(env_names(text)))
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 8085


def test_the_kubernetes_pieces_fit_together() -> None:
    toml_text = docs("configmap.yaml")[0]["data"]["proxy.toml"]
    server = tomllib.loads(toml_text)["server"]
    deployment = docs("deployment.yaml")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["ports"][0]["containerPort"] == server["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    grace = config.parse(tomllib.loads(toml_text), "k8s", fake_environ(env_names(toml_text)))
    # The process is gone within shutdown_grace + 1 s of SIGTERM (tests/hostile/test_connections).
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace.server.shutdown_grace + 1
    # Behind the Ingress every peer is a proxy: without trusting it, one client's failures
    # would be everyone's (see README, "Issuing links").
    assert grace.server.trusted_proxies
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Every secret the config reads from the environment is in the example Secret.
    example = docs("secret.example.yaml")[0]["stringData"]
    assert env_names(toml_text) <= set(example)
    assert (
        container["envFrom"][0]["secretRef"]["name"]
        == docs("secret.example.yaml")[0]["metadata"]["name"]
    )
    kustomization = docs("kustomization.yaml")[0]
    assert "secret.example.yaml" not in kustomization["resources"]
    assert {p.name for p in MANIFESTS} - {"secret.example.yaml"} == set(kustomization["resources"])


def test_the_dockerfile_runs_as_nobody_with_a_healthcheck_and_no_secret() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert "AS build" in text  # multi-stage: no build tools in the final image
    for forbidden in ("VAULT_URL_SIGNING_KEY=", "PROXY_MASTER_KEY=", "SECRET_ACCESS_KEY="):
        assert forbidden not in text
