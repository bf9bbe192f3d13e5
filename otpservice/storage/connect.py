"""Redis connections chosen by configuration: single node (redis:// or rediss://, ACL
user and password in the URL), Sentinel, or Cluster."""

from __future__ import annotations

from urllib.parse import urlparse

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

from otpservice.config import Settings
from otpservice.storage.redis_store import AnyRedis

SOCKET_TIMEOUT = 2.0


def connect_redis(settings: Settings) -> AnyRedis:
    url = settings.redis_url
    if settings.redis_cluster:
        return RedisCluster.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
    if settings.redis_sentinel_master:
        # OTP_REDIS_URL lists the sentinels: redis://[user:pass@]host:port,host:port/db
        parsed = urlparse(url)
        hosts = []
        for part in parsed.netloc.rpartition("@")[2].split(","):
            host, _, port = part.partition(":")
            hosts.append((host, int(port or 26379)))
        db = int((parsed.path or "/0").lstrip("/") or 0)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            hosts,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            username=parsed.username,
            password=parsed.password,
            ssl=parsed.scheme == "rediss",
            db=db,
        )
        master: Redis = sentinel.master_for(settings.redis_sentinel_master)
        return master
    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=15,
    )
