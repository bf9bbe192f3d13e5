"""Command line: serve, dev, simulator, check, balance."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from otpservice.config import ConfigError, Settings, load_settings
from otpservice.serving import (
    APP_FACTORY,
    DEFAULT_SERVER,
    SERVERS,
    prepare_metrics_dir,
    run_server,
)


def _fail(message: str) -> int:
    print(f"otpservice: {message}", file=sys.stderr)
    return 2


def _load(development: bool = False, env: dict[str, str] | None = None) -> Settings:
    return load_settings(env, development=development)


def cmd_serve(args: argparse.Namespace) -> int:
    """Production: N worker processes; SIGTERM drains in-flight requests, then exits 0."""
    if args.workers < 1:
        return _fail("--workers must be 1 or more")
    prepare_metrics_dir(args.workers)  # first: before anything imports prometheus-client
    try:
        settings = _load()  # refuse to start on bad configuration, with one clear line
    except ConfigError as exc:
        return _fail(str(exc))
    from otpservice.observability.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    # A SIGTERM the server already handled (drain, lifespan shutdown) is a clean exit, not a
    # death by signal: uvicorn re-raises the signal it caught once it has shut down.
    signal.signal(signal.SIGTERM, lambda *_: None)
    # argon2 threads per worker: together, one per core. More threads than cores only
    # make hashes wait on each other and on the event loops (bench/: fewer flows/s and a
    # slower /healthz); OTP_HASH_WORKERS still wins when set.
    from otpservice.process import mark_supervisor

    mark_supervisor()  # its workers die with it (otpservice/process.py)
    if not os.environ.get("OTP_HASH_WORKERS", "").strip():
        per_worker = max(1, (os.cpu_count() or 1) // args.workers)
        os.environ["OTP_HASH_WORKERS"] = str(per_worker)
    run_server(
        APP_FACTORY,
        server=args.server,
        host=args.host,
        port=args.port,
        workers=args.workers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        limits=settings.server,
    )
    return 0


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        ok = bool(client.ping())
        client.close()
        return ok
    except redis.RedisError:
        return False


def _ensure_local_redis(url: str, data_dir: Path) -> None:
    """Development: use the Redis at ``url``, or start a local redis-server for it."""
    if _redis_answers(url):
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise ConfigError(
            "no Redis answers and redis-server is not installed "
            "(Debian: apt-get install redis-server)"
        )
    from urllib.parse import urlparse

    port = urlparse(url).port or 6379
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - a fixed local binary with fixed arguments
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)),
            *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(proc.terminate)
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise ConfigError(f"redis-server did not start on port {port}")
        time.sleep(0.05)


def mount_under(path: str, asgi_app: Any) -> Any:
    """An ASGI app (the simulator) as a Litestar mount; Litestar strips ``path`` from the scope."""
    from litestar.handlers import asgi

    @asgi(path, is_mount=True, copy_scope=True, include_in_schema=False)
    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        await asgi_app(scope, receive, send)

    return mounted


def cmd_dev(args: argparse.Namespace) -> int:
    """Everything on one port: the service, and the provider simulator under /simulator."""
    import uvicorn

    from otpservice.app import create_app
    from otpservice.simulator import SimulatorState, create_simulator

    base = f"http://127.0.0.1:{args.port}"
    client_key = os.environ.get("OTP_DEV_API_KEY") or "dev_" + secrets.token_urlsafe(24)
    provider_key = "sim_" + secrets.token_urlsafe(18)
    env = dict(os.environ)
    env.setdefault("OTP_SECRET", secrets.token_urlsafe(48))
    env.setdefault("OTP_API_KEYS", f"dev={client_key}")
    env.setdefault("OTP_ADMIN_API_KEYS", f"dev_admin={client_key}_admin")
    backup_key = "sim_" + secrets.token_urlsafe(18)
    simulator_api = f"{base}/simulator/api/v3"
    if args.providers == 2:
        # Two simulator accounts, main then backup: break main to watch the failover.
        env["OTP_PROVIDERS"] = json.dumps(
            [
                {"name": "main", "kind": "turkeysms", "base_url": simulator_api,
                 "api_key": provider_key, "sender_id": "OTPSVC", "code_source": "provider"},
                {"name": "backup", "kind": "turkeysms", "base_url": simulator_api,
                 "api_key": backup_key, "sender_id": "BACKUP", "code_source": "local"},
            ]
        )  # fmt: skip
        env["OTP_ROUTES"] = json.dumps({"default": ["main", "backup"]})
        for name in ("OTP_PROVIDER_API_KEY", "OTP_PROVIDER_BASE_URL", "OTP_PROVIDER_SENDER_ID"):
            env.pop(name, None)
    else:
        env["OTP_PROVIDER_API_KEY"] = provider_key
        env["OTP_PROVIDER_BASE_URL"] = simulator_api
        env.setdefault("OTP_PROVIDER_SENDER_ID", "OTPSVC")
    env.setdefault("OTP_LOG_FORMAT", "console")
    try:
        settings = _load(development=True, env=env)
        _ensure_local_redis(settings.redis_url, Path(".otpservice/redis"))
    except ConfigError as exc:
        return _fail(str(exc))
    state = SimulatorState.with_account(
        provider_key, sender_id=settings.provider_sender_id or "OTPSVC"
    )
    if args.providers == 2:
        state.add_account(backup_key, sender_id="BACKUP")
    simulator = create_simulator(state)
    app = create_app(settings, extra_handlers=[mount_under("/simulator", simulator)])
    # Printed once to the terminal, never to the log.
    print(
        "\n".join(
            [
                "otpservice (development) is starting:",
                f"  service:   {base}",
                f"  API key:   {client_key}   (admin: {client_key}_admin)",
                f"  inbox:     {base}/simulator/inbox",
                *(
                    [
                        "  providers: main, then backup (two simulator accounts). Empty main's"
                        " balance to fail over:",
                        f"             curl -s -X PATCH {base}/simulator/_admin/accounts/"
                        f"{provider_key} -H 'Content-Type: application/json'"
                        " -d '{\"local_balance_sms\": 0}'",
                    ]
                    if args.providers == 2
                    else []
                ),
                f"  console:   {base}/console   (sign in with the admin key)",
                f"  API docs:  {base}/schema/swagger",
                "  try:      curl -s -X POST "
                f"{base}/v1/verifications -H 'Authorization: Bearer {client_key}' "
                "-H 'Content-Type: application/json' -d '{\"phone\": \"+905321234567\"}'",
                "",
            ]
        ),
        flush=True,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def cmd_simulator(args: argparse.Namespace) -> int:
    from otpservice.simulator.server import serve

    keys = args.api_key or [os.environ.get("OTP_PROVIDER_API_KEY") or "simulator-key"]
    print(
        f"Turkey SMS simulator: API http://{args.host}:{args.port}/api/v3, "
        f"inbox http://{args.host}:{args.port}/inbox",
        flush=True,
    )
    serve(args.host, args.port, api_keys=keys, sender_id=args.sender_id)
    return 0


async def _check(settings: Settings) -> tuple[list[str], list[str]]:
    """(problems, warnings) as printable lines."""
    from otpservice.app import make_gateway
    from otpservice.storage.connect import connect_redis
    from otpservice.storage.inspect import redis_findings
    from otpservice.storage.redis_store import store_for

    problems: list[str] = []
    redis = connect_redis(settings)
    try:
        store = store_for(redis, settings)
        found, warned = await redis_findings(
            redis, store, wait_replicas=settings.redis_wait_replicas
        )
        problems += [f"redis: {line}" for line in found]
        warnings = [f"warning: redis: {line}" for line in warned]
    except Exception as exc:
        problems.append(f"redis: cannot reach it ({type(exc).__name__})")
        warnings = []
    finally:
        await redis.aclose()
    router = make_gateway(settings)
    several = len(router.providers) > 1
    try:
        for provider in router.providers.values():
            label = f"provider {provider.name}" if several else "provider"
            try:
                balance = await provider.balance()
            except Exception as exc:
                problems.append(f"{label}: {getattr(exc, 'code', type(exc).__name__)}: {exc}")
                continue
            if balance is not None and balance.local_sms <= provider.low_balance_sms:
                problems.append(f"{label}: low balance ({balance.local_sms} SMS left)")
    finally:
        await router.aclose()
    return problems, warnings


def _quiet_logs(settings: Settings) -> None:
    """One-shot commands print their findings themselves; only errors go to the log (stderr)."""
    from otpservice.domain.phone import configure_masking
    from otpservice.observability.logging import configure_logging

    configure_masking(settings.limits.prefix_drop_digits)
    configure_logging(settings.log_format, "ERROR", secrets=settings.secret_values)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        settings = _load()
    except ConfigError as exc:
        print(f"config: {exc}")
        return 1
    _quiet_logs(settings)
    problems, warnings = asyncio.run(_check(settings))
    for line in [*problems, *warnings]:
        print(line)
    if not problems:
        print("ok: configuration valid, Redis reachable, provider answers")
    return 1 if problems else 0


def cmd_balance(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            {**os.environ, "OTP_API_KEYS": os.environ.get("OTP_API_KEYS") or "cli=cli-unused-key-0"}
        )
    except ConfigError as exc:
        return _fail(str(exc))
    _quiet_logs(settings)
    from otpservice.app import make_gateway

    async def run() -> int:
        gateway = make_gateway(settings)
        try:
            b = await gateway.balance()
        except Exception as exc:
            print(f"provider: {getattr(exc, 'code', type(exc).__name__)}: {exc}", file=sys.stderr)
            return 1
        finally:
            await gateway.aclose()
        print(f"local: {b.local_sms} SMS\ninternational: {b.international_tl:.2f} TL")
        return 0

    return asyncio.run(run())


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, as served at /schema/openapi.json."""
    from otpservice.app import create_app

    app = create_app(load_settings({}, development=True))
    document: dict[str, Any] = app.openapi_schema.to_schema()
    return document


def cmd_openapi(args: argparse.Namespace) -> int:
    import json

    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otpservice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (production)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server binds all interfaces
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument(
        "--server",
        choices=SERVERS,
        default=DEFAULT_SERVER,
        help=f"ASGI server (default {DEFAULT_SERVER}; see the README's production section)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies trusted for X-Forwarded-For (uvicorn only; default 127.0.0.1)",
    )
    serve.set_defaults(func=cmd_serve)
    dev = sub.add_parser("dev", help="run locally with Redis and the provider simulator")
    dev.add_argument(
        "--providers",
        type=int,
        choices=(1, 2),
        default=1,
        help="simulator accounts to route over (2: main then backup, to show failover)",
    )
    dev.add_argument("--port", type=int, default=8000)
    dev.set_defaults(func=cmd_dev)
    sim = sub.add_parser("simulator", help="run the Turkey SMS simulator on its own")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8025)
    sim.add_argument("--api-key", action="append", help="accepted provider API key (repeatable)")
    sim.add_argument("--sender-id", default="OTPSVC")
    sim.set_defaults(func=cmd_simulator)
    check = sub.add_parser("check", help="validate configuration, Redis and the provider")
    check.set_defaults(func=cmd_check)
    balance = sub.add_parser("balance", help="print the provider balance")
    balance.set_defaults(func=cmd_balance)
    openapi = sub.add_parser("openapi", help="write the OpenAPI document (the contract)")
    openapi.add_argument("--output", default="openapi/openapi.json")
    openapi.set_defaults(func=cmd_openapi)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
