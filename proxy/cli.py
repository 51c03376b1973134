"""``python -m proxy``: serve, demo, sign, verify, keygen, hash-secret, seal, check, credential.

No business logic here: each command parses its arguments and calls a module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from proxy import config, demo, sealing, server, supervisor
from proxy.accounts import (
    Account,
    check_credential_name,
    credential_toml,
    hash_secret,
    new_credential,
)
from proxy.errors import ConfigError, OutOfScope, ProxyError
from proxy.http.names import ACCESS_KEY, SECRET_ACCESS_KEY
from proxy.links.issuing import (
    LinkRequest,
    grant,
    signed_url,
    timeline_link,
    timeline_window,
    token_options,
)
from proxy.links.query import SIGNED_PATH, parse_query
from proxy.links.signing import Signer
from proxy.links.tokens import TIMELINE_PATH, TOKEN_PATH, decode_key, parse_token
from proxy.links.verify import token_report, validation_report
from proxy.readiness import check_providers
from proxy.telemetry import install_log_filters
from proxy.timeline.naming import Window


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args, os.environ))
    except (ConfigError, UsageError) as exc:
        print(f"proxy: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m proxy", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--config", help="TOML file (default: $PROXY_CONFIG)")
    serve.add_argument("--host", help="override server.host")
    serve.add_argument("--port", type=int, help="override server.port")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--check", action="store_true", help="prove every provider works first")
    serve.set_defaults(run=_serve)

    demo = sub.add_parser("demo", help="serve a sample file from a local folder, no config needed")
    demo.add_argument("--data-dir", default=".demo", help="where the media and key live")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8085)
    demo.add_argument("--expires-in", default="1h", help="seconds or a Go duration")
    demo.set_defaults(run=_demo)

    sign = sub.add_parser("sign", help="print a signed URL (a token link with §6's options)")
    sign.add_argument("--config", help="TOML file (default: $PROXY_CONFIG)")
    sign.add_argument("--account", required=True)
    sign.add_argument("--provider", help="default: the account's first provider")
    what = sign.add_mutually_exclusive_group(required=True)
    what.add_argument("--file", help="object key, inside the account's prefix")
    what.add_argument("--prefix", help="a folder (ending with /): a token link for all below it")
    what.add_argument(
        "--timeline", metavar="PREFIX", help="a folder's recordings as one HLS playlist (§7)"
    )
    sign.add_argument("--start", help="with --timeline: Unix seconds, the first recording's")
    sign.add_argument("--end", help="with --timeline: Unix seconds, after the last recording's")
    sign.add_argument("--device", help="with --timeline: only this camera's recordings")
    sign.add_argument("--not-before", help="Unix seconds: a token link not valid before then")
    sign.add_argument(
        "--download",
        nargs="?",
        const=True,
        metavar="NAME",
        help="served as an attachment (named NAME, else by the key): a token link",
    )
    sign.add_argument(
        "--client-ip",
        action="append",
        default=[],
        metavar="CIDR",
        help="only from these addresses (repeatable): a token link",
    )
    sign.add_argument(
        "--expires-in",
        help="seconds or a Go duration (default: the server's, within the account's max_expiry)",
    )
    sign.set_defaults(run=_sign)

    verify = sub.add_parser("verify", help="print the validate JSON of a URL; exit 1 if invalid")
    verify.add_argument("url")
    verify.add_argument("--config", help="TOML file (default: $PROXY_CONFIG)")
    verify.set_defaults(run=_verify)

    keygen = sub.add_parser("keygen", help="print a new random signing key (32 bytes)")
    keygen.set_defaults(run=_keygen)

    hash_secret = sub.add_parser("hash-secret", help="print the scrypt hash of a secret on stdin")
    hash_secret.set_defaults(run=_hash_secret)

    seal = sub.add_parser("seal", help="print enc:v1:... for a value on stdin ($PROXY_MASTER_KEY)")
    seal.add_argument(
        "--field",
        required=True,
        help="the config key it is for, e.g. providers.media.secret_access_key",
    )
    seal.set_defaults(run=_seal)

    check = sub.add_parser("check", help="prove each provider's credentials with a real call")
    check.add_argument("--config", help="TOML file (default: $PROXY_CONFIG)")
    check.set_defaults(run=_check)

    credential = sub.add_parser("credential", help="issuing credentials of an account")
    actions = credential.add_subparsers(required=True, metavar="ACTION")
    new = actions.add_parser(
        "new", help="print a fresh access key and secret, and the TOML block with its hash"
    )
    new.add_argument("--account", required=True)
    new.add_argument("--name", required=True, help="1-64 of A-Z a-z 0-9 . _ - (e.g. the system)")
    new.add_argument("--config", help="check that the account exists and the name is free")
    new.set_defaults(run=_credential_new)
    return parser


def _settings(path: str | None, environ: Mapping[str, str]) -> config.Settings:
    path = path or environ.get("PROXY_CONFIG")
    if not path:
        raise UsageError("no configuration: pass --config FILE or set PROXY_CONFIG")
    return config.load(path, environ)


def _serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args.config, environ)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.check and not _report_checks(settings):
        return 1
    return _run(settings, host, port, args.workers, reload_from=settings.source)


def _run(
    settings: config.Settings,
    host: str,
    port: int,
    workers: int,
    reload_from: str | None = None,
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    install_log_filters()
    if workers > 1:
        return supervisor.run(settings, host, port, workers, reload_from)
    try:
        server.run(settings, host, port, reuse_port=False, reload_from=reload_from)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return 0


def _demo(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = demo.prepare(args.data_dir, args.host, args.port, environ)
    url = _signed_url(settings, "demo", None, demo.SAMPLE, args.expires_in)
    print(f"serving {demo.media_root(args.data_dir)} as provider 'local', account 'demo'")
    print(f"signed URL (valid {args.expires_in}):\n  {url}")
    print(f"fetch it:\n  curl -sS '{url}'")
    if demo.hls_package(args.data_dir):
        folder = _signed_url(settings, "demo", None, demo.HLS_FOLDER, args.expires_in, prefix=True)
        playlist = folder + "index.m3u8"
        print(f"an HLS package through one token link (valid {args.expires_in}):\n  {playlist}")
        print(f"play it:\n  ffplay '{playlist}'   (or open it in VLC or Safari)")
    else:
        print("(install ffmpeg to get a small HLS package and a token link to its playlist)")
    window = demo.recordings(args.data_dir)
    if window is not None:
        timeline = _demo_timeline(settings, window, args.expires_in)
        print(f"three camera recordings as one timeline (valid {args.expires_in}):\n  {timeline}")
        print(f"play it:\n  ffplay '{timeline}'   (hls.js, Safari; .json for the list)")
    sys.stdout.flush()
    return _run(settings, args.host, args.port, 1)


def _sign(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args.config, environ)
    if args.timeline:
        print(_timeline_url(settings, args))
        return 0
    if args.start or args.end or args.device:
        raise UsageError("--start, --end and --device go with --timeline")
    try:
        options = token_options(
            "prefix" if args.prefix else None,
            args.not_before,
            args.download,
            args.client_ip or None,
        )
    except ProxyError as exc:
        raise UsageError(exc.message) from None
    key = args.prefix or args.file
    print(_signed_url(settings, args.account, args.provider, key, args.expires_in, **options))
    return 0


def _demo_timeline(settings: config.Settings, window: tuple[int, int], expires_in: str) -> str:
    account = settings.accounts["demo"]
    return timeline_link(
        settings.signing,
        account,
        demo.RECORDINGS_FOLDER,
        None,
        expires_in,
        Window(*window, demo.DEVICE),
        settings.signing.signer(),
        settings.server.public_url,
        time.time(),
    )


def _timeline_url(settings: config.Settings, args: argparse.Namespace) -> str:
    if args.start is None or args.end is None:
        raise UsageError("--timeline needs --start and --end (Unix seconds)")
    if args.not_before or args.download or args.client_ip:
        raise UsageError("a timeline takes --provider, --device and --expires-in, no other option")
    account = _signing_account(settings, args.account)
    try:
        window = timeline_window(args.start, args.end, args.device)
        return timeline_link(
            settings.signing,
            account,
            args.timeline,
            args.provider,
            args.expires_in,
            window,
            settings.signing.signer(),
            settings.server.public_url,
            time.time(),
        )
    except ProxyError as exc:
        raise UsageError(exc.message) from None


def _signing_account(settings: config.Settings, account_name: str) -> Account:
    account = settings.accounts.get(account_name)
    if account is None:
        raise UsageError(f"no account {account_name!r} in {settings.source}")
    if not account.enabled:
        # Its link would only ever be refused (403 revoked), so make none.
        raise UsageError(f"account {account_name!r} is disabled in {settings.source}")
    return account


def _signed_url(
    settings: config.Settings,
    account_name: str,
    provider: str | None,
    filename: str,
    expires_in: str | None,
    **options: Any,
) -> str:
    account = _signing_account(settings, account_name)
    wanted = LinkRequest(filename, provider, expires_in, **options)
    try:
        granted = grant(settings.signing, account, wanted, time.time(), expiry_field="--expires-in")
    except ProxyError as exc:
        raise UsageError(exc.message) from None
    # No backend is started here, so never a native URL: a §1 link, as VAULT_SIGNING=true.
    signer = settings.signing.signer()
    return signed_url(granted, signer, settings.server.public_url)


def _verify(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = _settings(args.config, environ)
    parts = urlsplit(args.url)
    signer = settings.signing.signer()
    try:
        if f"{TOKEN_PATH}/" in parts.path:
            report = _token_report(parts.path, signer, settings)
        elif f"{TIMELINE_PATH}/" in parts.path:
            token = parts.path.rsplit("/", 1)[1].rpartition(".")[0]
            report = token_report(token, signer, settings.accounts, time.time(), client=None)
        elif parts.path.endswith(SIGNED_PATH):
            query = parse_query(parts.query)
            report = validation_report(query, signer, settings.accounts, time.time())
        else:
            raise UsageError(f"not a signed URL: the path must end with {SIGNED_PATH}")
    except ProxyError as exc:
        print(json.dumps(exc.body()))
        return 1
    print(json.dumps(report))
    return 0 if report["valid"] else 1


def _token_report(path: str, signer: Signer, settings: config.Settings) -> dict[str, object]:
    """A token link's validate JSON; its key too, if the URL names one. The client address
    is not known here, so a token's ``clientIp`` is reported, not checked."""
    token, _, raw_key = path.split(f"{TOKEN_PATH}/", 1)[1].partition("/")
    report = token_report(token, signer, settings.accounts, time.time(), client=None)
    names_a_key = bool(raw_key) and not raw_key.endswith("/")
    if report["valid"] and names_a_key:
        claims = parse_token(token, signer).claims
        if not claims.covers(decode_key(raw_key)):
            report = {**report, "valid": False, "reason": OutOfScope.code}
    return report


def _keygen(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    # 32 random bytes, base64url: 43 characters, whose UTF-8 form is the key.
    print(secrets.token_urlsafe(32))
    return 0


def _hash_secret(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    secret = _stdin_value("secret")
    print(hash_secret(secret))
    return 0


def _seal(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    master = environ.get(sealing.MASTER_KEY_ENV)
    if not master:
        raise UsageError(f"set {sealing.MASTER_KEY_ENV} to seal values")
    value = _stdin_value("value")
    try:
        print(sealing.seal(value, args.field, master))
    except sealing.SealError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _stdin_value(what: str) -> str:
    """One value from standard input; a trailing newline is not part of it."""
    if sys.stdin.isatty():
        print(f"{what} (end with Enter):", file=sys.stderr)
        value = sys.stdin.readline()
    else:
        value = sys.stdin.read()
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise UsageError(f"no {what} on standard input")
    return value


def _check(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    return 0 if _report_checks(_settings(args.config, environ)) else 1


def _report_checks(settings: config.Settings) -> bool:
    results = asyncio.run(check_providers(settings))
    for name, problem in results.items():
        kind = settings.providers[name].kind
        print(f"provider {name} ({kind}): {'ok' if problem is None else 'FAILED: ' + problem}")
    return all(problem is None for problem in results.values())


def _credential_new(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    try:
        check_credential_name(args.name)
    except ValueError as exc:
        raise UsageError(f"--name: {exc}") from None
    if not 1 <= len(args.account) <= 128 or not args.account.isprintable():
        raise UsageError("--account: names are 1-128 printable characters")
    if args.config:  # only when asked: a new credential needs no configuration
        settings = config.load(args.config, environ)
        account = settings.accounts.get(args.account)
        if account is None:
            raise UsageError(f"no account {args.account!r} in {settings.source}")
        if any(c.name == args.name for c in account.credentials):
            raise UsageError(f"account {args.account!r} already has a credential {args.name!r}")
    credential, secret = new_credential(args.name)
    print(f"credential {args.name!r} of account {args.account!r}; the secret is shown only now,")
    print("and only its hash goes into the configuration. For the system that issues with it:")
    print(f"  {ACCESS_KEY}: {credential.access_key}")
    print(f"  {SECRET_ACCESS_KEY}: {secret}")
    print("\nAdd this to the configuration, then reload (kill -HUP):\n")
    print(credential_toml(args.account, credential), end="")
    return 0
