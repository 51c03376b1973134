"""The command line as a user runs it: real processes, real curl."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxy.demo import HLS_PLAYLIST
from proxy.demo import SAMPLE as DEMO_SAMPLE
from proxy.demo import TEXT as DEMO_TEXT
from tests.support import toml
from tests.support.procs import ROOT, free_port, started, stop, wait_http
from tests.support.proxyapp import KEY, OLD_KEY

PY = sys.executable


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=30, check=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    (media / "cam").mkdir(parents=True)
    (media / "cam" / "clip.mp4").write_bytes(b"not really a video")
    doc = {
        "server": {"host": "127.0.0.1", "port": free_port()},
        "signing": {"key": "env:TEST_SIGNING_KEY", "previous_keys": [OLD_KEY]},
        "providers": {"disk": {"kind": "local", "root": str(media)}},
        "accounts": {"cam": {"providers": ["disk"]}},
    }
    path = tmp_path / "proxy.toml"
    path.write_text(toml.dumps(doc))
    return path


KEY_ENV = {"TEST_SIGNING_KEY": KEY}


def test_demo_prints_a_link_that_curl_fetches(tmp_path: Path) -> None:
    from tests.support.recordings import count_frames

    port = free_port()
    log = tmp_path / "demo.log"
    argv = [PY, "-m", "proxy", "demo", "--port", str(port), "--data-dir", str(tmp_path / "d")]
    with started(argv, f"http://127.0.0.1:{port}/healthz", log) as proc:
        output = log.read_text()
        url = re.search(r"curl -sS '([^']+)'", output)
        assert url, output
        fetched = curl(url.group(1))
        assert fetched.returncode == 0
        assert fetched.stdout.decode() == DEMO_TEXT
        # The HLS package plays through one token link: ffprobe follows its segments.
        playlist = re.search(r"ffplay '([^']+)'", output)
        assert playlist, output
        assert playlist.group(1).endswith("/" + HLS_PLAYLIST)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             playlist.group(1)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert 5.5 < float(probe.stdout) < 6.5
        # Three recordings as one timeline: every packet of the three is read through it.
        timeline = re.search(r"ffplay '([^']+/api/storage/timeline/[^']+)'", output)
        assert timeline, output
        assert count_frames(timeline.group(1), packets=True) == 3 * 4 * 25
        assert (tmp_path / "d" / "media" / DEMO_SAMPLE).read_text() == DEMO_TEXT
        key_file = tmp_path / "d" / "signing.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 43
        assert proc.poll() is None
    assert key not in log.read_text()
    # The signature is in the printed URL for the user, but the access log redacts it.
    signature = re.search(r"&s=([A-Za-z0-9_-]{43})", url.group(1))
    assert signature
    lines = log.read_text().splitlines()
    access_lines = [line for line in lines if line.startswith("{") and "/signed?" in line]
    assert access_lines
    assert all(signature.group(1) not in line for line in access_lines)
    assert all("s=[redacted]" in line for line in access_lines)


def test_serve_sign_verify_round_trip(config_file: Path) -> None:
    port = toml_port(config_file)
    env = {**os.environ, **KEY_ENV, "PROXY_CONFIG": str(config_file)}
    argv = [PY, "-m", "proxy", "serve"]
    with started(argv, f"http://127.0.0.1:{port}/healthz", config_file.with_suffix(".log"), env):
        signed = run(
            "sign", "--account", "cam", "--file", "cam/clip.mp4", "--expires-in", "5m", env=env
        )
        assert signed.returncode == 0, signed.stderr
        url = signed.stdout.strip()
        assert url.startswith(
            f"http://127.0.0.1:{port}/api/storage/signed?a=cam&p=disk&f=cam%2Fclip.mp4&e="
        )
        fetched = curl("-D", "-", url)
        assert fetched.returncode == 0
        assert fetched.stdout.endswith(b"not really a video")
        assert b"video/mp4" in fetched.stdout
        probe = curl("-I", url)  # link checkers send HEAD first
        assert b"200 OK" in probe.stdout
        assert b"Content-Length: 18" in probe.stdout

    verified = run("verify", url, env=env)
    assert verified.returncode == 0
    report = json.loads(verified.stdout)
    assert report["valid"] is True
    assert 290 <= report["expiresIn"] <= 300
    assert run("verify", url.replace("a=cam", "a=cxm"), env=env).returncode == 1
    tampered = json.loads(
        run("verify", url[:-1] + ("A" if url[-1] != "A" else "B"), env=env).stdout
    )
    assert tampered["reason"] == "invalid_signature"
    malformed = run("verify", url + "&x=1", env=env)
    assert malformed.returncode == 1
    assert json.loads(malformed.stdout)["error"] == "bad_request"


def toml_port(path: Path) -> int:
    import tomllib

    return int(tomllib.loads(path.read_text())["server"]["port"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nobody", "--file", "cam/x"], "no account 'nobody'"),
        (["--account", "cam", "--file", "other/x"], "outside the account's prefix"),
        (["--account", "cam", "--file", "cam/../x"], "empty, '.' or '..'"),
        (["--account", "cam", "--provider", "s3", "--file", "cam/x"], "not bound to provider"),
        (
            ["--account", "cam", "--file", "cam/x", "--expires-in", "1000h"],
            "longer than the maximum",
        ),
        (["--account", "cam", "--file", "cam/x", "--expires-in", "soon"], "--expires-in"),
    ],
)
def test_sign_refuses_what_the_server_would(
    config_file: Path, args: list[str], message: str
) -> None:
    result = run("sign", "--config", str(config_file), *args, env=KEY_ENV)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def config_with_account(config_file: Path, **account: object) -> Path:
    import tomllib

    doc = tomllib.loads(config_file.read_text())
    doc["accounts"]["cam"].update(account)
    path = config_file.with_name("account.toml")
    path.write_text(toml.dumps(doc))
    return path


def test_sign_refuses_a_disabled_account(config_file: Path) -> None:
    # Its link would be refused at once (403 revoked), so none is made.
    path = config_with_account(config_file, enabled=False)
    for extra in ([], ["--expires-in", "5m"]):
        args = ["--config", str(path), "--account", "cam", "--file", "cam/x", *extra]
        result = run("sign", *args, env=KEY_ENV)
        assert result.returncode == 2
        assert result.stdout == ""
        assert "account 'cam' is disabled" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_sign_shortens_the_default_lifetime_to_the_account_maximum(config_file: Path) -> None:
    # As the issuing endpoint does: the default (24h) within the account's max_expiry (1h).
    path = config_with_account(config_file, max_expiry="1h")
    before = int(time.time())
    result = run("sign", "--config", str(path), "--account", "cam", "--file", "cam/x", env=KEY_ENV)
    after = int(time.time())
    assert result.returncode == 0, result.stderr
    expires = int(re.search(r"&e=([0-9]+)&", result.stdout)[1])  # type: ignore[index]
    assert before + 3600 <= expires <= after + 3600
    # An explicit lifetime above that maximum is still refused, as the endpoint does (400).
    args = ["--config", str(path), "--account", "cam", "--file", "cam/x", "--expires-in", "2h"]
    longer = run("sign", *args, env=KEY_ENV)
    assert longer.returncode == 2
    assert "--expires-in: longer than the maximum of 3600 seconds" in longer.stderr


def test_keygen_prints_fresh_32_byte_keys() -> None:
    first, second = run("keygen").stdout.strip(), run("keygen").stdout.strip()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)


BAD_CONFIGS = [
    ("", {}, "signing.key: a signing key is required"),
    ("[signing]\nkey = 'short'\n", {}, "signing.key: shorter than 32 bytes"),
    (
        "[signing]\nkey = 'env:NOPE_NOT_SET'\n",
        {},
        "signing.key: environment variable NOPE_NOT_SET is not set",
    ),
    (
        "[signing]\nkey = '" + KEY + "'\nprevious_keys = ['tiny']\n",
        {},
        "signing.previous_keys[0]: shorter than 32 bytes",
    ),
    ("", {"VAULT_URL_SIGNING_KEY": "short"}, "VAULT_URL_SIGNING_KEY: shorter than 32 bytes"),
    ("[server]\nport = 'eighty'\n", {}, "server.port: must be an integer"),
    ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
    ("[providers.x]\nkind = 's3'\n", {}, "providers.x.bucket: required"),
    ("[providers.x]\nkind = 'ftp'\n", {}, "providers.x.kind: must be one of local, s3"),
    (
        "[providers.x]\nkind = 'local'\nroot = '/definitely/not/here'\n",
        {},
        "providers.x.root: /definitely/not/here is not a directory",
    ),
    (
        "[accounts.a]\nproviders = ['missing']\n",
        {},
        "accounts.a.providers: unknown provider 'missing'",
    ),
    ("[signing]\ndefault_expiry = '1y'\n", {}, "signing.default_expiry: unknown unit"),
    ("[signing]\nkey = 'enc:v1:abc'\n", {}, "signing.key: a sealed value needs PROXY_MASTER_KEY"),
    ("this is = not toml [", {}, "(file): not valid TOML"),
]


@pytest.mark.parametrize(("text", "env", "message"), BAD_CONFIGS)
def test_bad_config_stops_with_one_line(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run("serve", "--config", str(path), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"proxy: bad configuration in {path}: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_every_config_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nport = 0\n[signing]\nkey = 'short'\n[providers.x]\nkind = 's3'\n")
    line = run("serve", "--config", str(path)).stderr.strip()
    for part in ("server.port", "signing.key", "providers.x.bucket"):
        assert part in line


def test_missing_config_is_one_clear_line(tmp_path: Path) -> None:
    result = run("serve", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"proxy: bad configuration in {tmp_path / 'absent.toml'}: (file): no such file"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROXY_CONFIG"}
    bare = subprocess.run(
        [PY, "-m", "proxy", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bare.returncode == 2
    assert "pass --config FILE or set PROXY_CONFIG" in bare.stderr


def test_busy_port_is_one_clear_line(config_file: Path) -> None:
    port = toml_port(config_file)
    env = {**os.environ, **KEY_ENV}
    first = subprocess.Popen(
        [PY, "-m", "proxy", "serve", "--config", str(config_file)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", first)
        second = run("serve", "--config", str(config_file), env=KEY_ENV)
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
        # Workers that cannot bind make the parent fail too.
        several = run("serve", "--config", str(config_file), "--workers", "2", env=KEY_ENV)
        assert several.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in several.stderr
    finally:
        stop(first)


def test_workers_share_one_port(config_file: Path) -> None:
    port = toml_port(config_file)
    env = {**os.environ, **KEY_ENV}
    argv = [PY, "-m", "proxy", "serve", "--config", str(config_file), "--workers", "2"]
    with started(
        argv, f"http://127.0.0.1:{port}/healthz", config_file.with_suffix(".log"), env
    ) as proc:
        pids = set()
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.update(re.findall(r"\(pid (\d+)\)", config_file.with_suffix(".log").read_text()))
            time.sleep(0.1)
        assert len(pids) == 2
        assert str(proc.pid) not in pids
        # SIGHUP to the parent reloads every worker.
        log = config_file.with_suffix(".log")
        os.kill(proc.pid, signal.SIGHUP)
        while log.read_text().count("configuration reloaded") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.read_text().count("configuration reloaded") == 2
        assert proc.poll() is None
    assert proc.returncode == 0


def test_hash_secret_reads_stdin_and_prints_a_verifiable_hash() -> None:
    from proxy.accounts import verify_secret

    secret = "a secret with spaces"
    result = run("hash-secret", stdin=secret + "\n")
    assert result.returncode == 0
    hashed = result.stdout.strip()
    assert hashed.startswith("scrypt$")
    assert secret not in result.stdout + result.stderr
    assert verify_secret(hashed, secret)
    assert not verify_secret(hashed, secret + "\n")
    empty = run("hash-secret", stdin="")
    assert empty.returncode == 2
    assert "no secret on standard input" in empty.stderr


def test_seal_reads_stdin_and_needs_the_master_key() -> None:
    from proxy import sealing

    master = "m" * 40
    field = "providers.media.secret_access_key"
    result = run("seal", "--field", field, env={"PROXY_MASTER_KEY": master}, stdin="s3-secret\n")
    assert result.returncode == 0
    token = result.stdout.strip()
    assert token.startswith("enc:v1:")
    assert "s3-secret" not in result.stdout
    assert sealing.unseal(token, field, master) == "s3-secret"
    env = {k: v for k, v in os.environ.items() if k != "PROXY_MASTER_KEY"}
    bare = subprocess.run(
        [PY, "-m", "proxy", "seal", "--field", field],
        input="x", capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert bare.returncode == 2
    assert bare.stderr.strip() == "proxy: set PROXY_MASTER_KEY to seal values"


def test_sign_prints_token_links_that_curl_fetches_and_verify_reads(config_file: Path) -> None:
    port = toml_port(config_file)
    log = config_file.with_name("serve.log")
    argv = [PY, "-m", "proxy", "serve", "--config", str(config_file)]
    env = {**os.environ, **KEY_ENV}
    folder = run(
        "sign", "--config", str(config_file), "--account", "cam", "--prefix", "cam/", env=KEY_ENV
    )
    assert folder.returncode == 0, folder.stderr
    url = folder.stdout.strip()
    assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/api/storage/t/[\w-]+\.[\w-]{{43}}/cam/", url)
    download = run(
        "sign", "--config", str(config_file), "--account", "cam", "--file", "cam/clip.mp4",
        "--download", "--not-before", "1", "--client-ip", "127.0.0.1/32", env=KEY_ENV,
    )  # fmt: skip
    assert download.returncode == 0, download.stderr
    with started(argv, f"http://127.0.0.1:{port}/healthz", log, env=env):
        fetched = curl("-D", "-", url + "clip.mp4")
        assert fetched.returncode == 0
        assert fetched.stdout.endswith(b"not really a video")
        attachment = curl("-D", "-", download.stdout.strip())
        assert b'Content-Disposition: attachment; filename="clip.mp4"' in attachment.stdout
    report = json.loads(run("verify", url, "--config", str(config_file), env=KEY_ENV).stdout)
    assert report["valid"] is True
    assert report["scope"] == {"prefix": "cam/"}
    inside = run("verify", url + "clip.mp4", "--config", str(config_file), env=KEY_ENV)
    assert inside.returncode == 0
    outside = run(
        "verify", url.replace("/cam/", "/other/x"), "--config", str(config_file), env=KEY_ENV
    )
    assert outside.returncode == 1
    assert json.loads(outside.stdout)["reason"] == "out_of_scope"
    described = json.loads(
        run("verify", download.stdout.strip(), "--config", str(config_file), env=KEY_ENV).stdout
    )
    assert described["clientIp"] == ["127.0.0.1/32"]
    assert described["download"] is True
    bad = run(
        "sign", "--config", str(config_file), "--account", "cam", "--prefix", "cam", env=KEY_ENV
    )
    assert bad.returncode == 2
    assert "ends with '/'" in bad.stderr


def test_credential_new_prints_a_secret_once_and_a_block_to_paste(config_file: Path) -> None:
    import tomllib
    import urllib.request

    from proxy import config
    from proxy.accounts import by_access_key, verify_secret

    made = run("credential", "new", "--account", "cam", "--name", "recorder-2")  # no config
    assert made.returncode == 0, made.stderr
    out = made.stdout
    block = out[out.index("[[accounts.cam.credentials]]") :]
    parsed = tomllib.loads(block)["accounts"]["cam"]["credentials"]
    assert len(parsed) == 1
    credential = parsed[0]
    assert credential["name"] == "recorder-2"
    assert re.fullmatch(r"AK[A-Z2-7]{20}", credential["access_key"])
    assert f"X-Kerberos-Storage-AccessKey: {credential['access_key']}" in out
    secret = re.search(r"X-Kerberos-Storage-SecretAccessKey: (\S+)\n", out)[1]  # type: ignore[index]
    assert len(secret) >= 43
    assert secret not in block
    assert verify_secret(credential["secret_hash"], secret)
    again = run("credential", "new", "--account", "cam", "--name", "recorder-2").stdout
    assert credential["access_key"] not in again
    assert secret not in again

    # The block, as parsed, is a configuration proxy.config accepts ...
    doc = tomllib.loads(config_file.read_text())
    doc["accounts"]["cam"]["credentials"] = parsed
    settings = config.parse(doc, "t", KEY_ENV)
    assert by_access_key(settings.accounts)[credential["access_key"]][1].name == "recorder-2"
    # ... and pasted at the end of the file, a server takes it: the secret issues a link.
    pasted = config_file.with_name("pasted.toml")
    pasted.write_text(config_file.read_text() + "\n" + block)
    port = toml_port(pasted)
    argv = [PY, "-m", "proxy", "serve", "--config", str(pasted)]
    env = {**os.environ, **KEY_ENV}
    with started(argv, f"http://127.0.0.1:{port}/healthz", pasted.with_suffix(".log"), env):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/storage",
            headers={
                "X-Kerberos-Storage-AccessKey": credential["access_key"],
                "X-Kerberos-Storage-SecretAccessKey": secret,
                "X-Kerberos-Storage-FileName": "cam/clip.mp4",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert "/api/storage/signed?a=cam&" in json.loads(answer.read())["data"]
    access_lines = [
        json.loads(line)
        for line in pasted.with_suffix(".log").read_text().splitlines()
        if line.startswith("{") and '"/api/storage"' in line
    ]
    assert [(line["account"], line["credential"]) for line in access_lines] == [
        ("cam", "recorder-2")
    ]

    # With --config, the account must exist and the name be free.
    for args, message in (
        (["--account", "cam", "--name", "recorder-2"], "already has a credential 'recorder-2'"),
        (["--account", "nobody", "--name", "x"], "no account 'nobody'"),
    ):
        refused = run("credential", "new", "--config", str(pasted), *args, env=KEY_ENV)
        assert refused.returncode == 2
        assert message in refused.stderr
        assert refused.stdout == ""
    args = ["--config", str(pasted), "--account", "cam", "--name", "n2"]
    fresh = run("credential", "new", *args, env=KEY_ENV)
    assert fresh.returncode == 0, fresh.stderr
    bad_name = run("credential", "new", "--account", "cam", "--name", "two words")
    assert bad_name.returncode == 2
    assert "--name: names are 1-64 characters" in bad_name.stderr


def test_sign_timeline_prints_a_playlist_that_ffmpeg_reads_whole(config_file: Path) -> None:
    """Every video packet of the selected recordings is read through the playlist, and one
    recording's timeline decodes to exactly its frames. (A timeline of several does not decode
    whole in ffmpeg 5.1: its HLS demuxer keeps one MP4 demuxer across EXT-X-DISCONTINUITY,
    which drops the first fragment after each recording's decode time starts again at 0.)"""
    from tests.support.recordings import T0, count_frames, make_set

    made = make_set(config_file.parent / "media" / "cam" / "rec")
    port = toml_port(config_file)
    sign = [
        "sign", "--config", str(config_file), "--account", "cam", "--timeline", "cam/rec/",
        "--start", str(T0), "--end", str(T0 + 60), "--device", "frontdoor",
    ]  # fmt: skip
    signed = run(*sign, env=KEY_ENV)
    assert signed.returncode == 0, signed.stderr
    url = signed.stdout.strip()
    assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/api/storage/timeline/[\w.-]+\.m3u8", url)
    report = json.loads(run("verify", url, "--config", str(config_file), env=KEY_ENV).stdout)
    assert report["valid"] is True
    assert report["timeline"] == {"start": T0, "end": T0 + 60, "device": "frontdoor"}
    argv = [PY, "-m", "proxy", "serve", "--config", str(config_file)]
    log = config_file.with_name("serve.log")
    one = run(*sign[:7], "--start", str(T0 + 10), "--end", str(T0 + 11), env=KEY_ENV)
    with started(argv, f"http://127.0.0.1:{port}/healthz", log, env={**os.environ, **KEY_ENV}):
        packets = count_frames(url, packets=True)
        frames = count_frames(one.stdout.strip())
    assert packets == sum(r.frames for r in made if r.device == "frontdoor" and r.fragmented)
    assert frames == made[2].frames
    for missing in (["--start", str(T0)], ["--end", "x", "--start", "1"]):
        bad = run(*sign[:7], *missing, env=KEY_ENV)
        assert bad.returncode == 2, bad.stdout
    stray = run(
        "sign", "--config", str(config_file), "--account", "cam", "--file", "cam/clip.mp4",
        "--device", "frontdoor", env=KEY_ENV,
    )  # fmt: skip
    assert stray.returncode == 2
    assert "--timeline" in stray.stderr
