"""/openapi.json is valid OpenAPI 3.1 and true: schemathesis fuzzes a live server against it."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from proxy.accounts import hash_secret
from proxy.openapi import document
from tests.support import toml
from tests.support.procs import free_port, started
from tests.support.proxyapp import KEY

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)


def test_the_document_is_valid_openapi_31() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the 3.1 schema


@pytest.mark.slow
@pytest.mark.parametrize("with_credentials", [False, True], ids=["anonymous", "authenticated"])
def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    tmp_path: Path, with_credentials: bool
) -> None:
    secret = secrets.token_urlsafe(16)
    media = tmp_path / "media" / "cam"
    media.mkdir(parents=True)
    (media / "clip.mp4").write_bytes(b"0123456789" * 100)
    port = free_port()
    doc = {
        "server": {"host": "127.0.0.1", "port": port, "access_log": False},
        "signing": {"key": KEY},
        "issuing": {"auth_failures": 100_000},
        "providers": {"disk": {"kind": "local", "root": str(tmp_path / "media")}},
        "accounts": {
            "cam": {
                "access_key": "AKCAM",
                "secret_hash": hash_secret(secret),
                "providers": ["disk"],
            }
        },
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "proxy", "serve", "--config", str(path)]
    headers: list[str] = []
    if with_credentials:
        headers = [
            "-H",
            "X-Kerberos-Storage-AccessKey: AKCAM",
            "-H",
            f"X-Kerberos-Storage-SecretAccessKey: {secret}",
        ]
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with started(argv, f"{base}/healthz", tmp_path / "proxy.log"):
        result = subprocess.run(
            [
                str(schemathesis), "run", f"{base}/openapi.json",
                "--checks", CHECKS,
                "--max-examples", "40",
                "--seed", "7",
                "--request-timeout", "10",
                "--no-color",
                *headers,
            ],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    summary = "\n".join(line[:300] for line in result.stdout.splitlines()[-60:])
    assert result.returncode == 0, summary
    assert " passed" in result.stdout
