"""The yardstick for refusals: a bare Litestar endpoint doing one Redis call, served the
way ``otpservice serve`` serves the service (same server, same options, same workers).

Run as ``python -m bench.baseline --port P --workers N --server S`` with BENCH_REDIS_URL set.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get, post
from redis.asyncio import Redis


def create_baseline_app() -> Litestar:
    redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await redis.aclose()

    @post("/bare", status_code=200)
    async def bare(data: dict[str, Any]) -> dict[str, Any]:
        # The same body as a refused send; one Redis round trip.
        count = await redis.incr("bench:bare")
        return {"ok": True, "n": count}

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(route_handlers=[bare, healthz], lifespan=[lifespan], debug=False)


def main() -> None:
    from otpservice.serving import DEFAULT_SERVER, SERVERS, run_server

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=SERVERS, default=DEFAULT_SERVER)
    args = parser.parse_args()
    run_server(
        "bench.baseline:create_baseline_app",
        server=args.server,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        forwarded_allow_ips="127.0.0.1",
    )


if __name__ == "__main__":
    main()
