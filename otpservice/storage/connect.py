"""Redis connections chosen by configuration.

* single node: ``OTP_REDIS_URL=redis://[user:password@]host:6379/0`` (``rediss://`` for TLS;
  ``?ssl_ca_certs=/path/ca.pem`` for a private CA, ``&ssl_certfile=...&ssl_keyfile=...``
  for client certificates);
* Sentinel: ``OTP_REDIS_SENTINEL_MASTER=<name>`` and ``OTP_REDIS_URL`` listing the
  sentinels, ``redis://[user:password@]s1:26379,s2:26379,s3:26379/0``; the user, password,
  TLS options and database apply to the data nodes (and TLS to the sentinels too);
* Cluster: ``OTP_REDIS_CLUSTER=true`` and ``OTP_REDIS_URL`` naming any one node (the
  client discovers the rest); user, password and TLS options as for a single node.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse, urlunparse

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel

from otpservice.config import ConfigError, Settings
from otpservice.storage.redis_store import OPERATION_TIMEOUT, AnyRedis

HEALTH_CHECK_SECONDS = 15
# Data connections: no socket timeout, the store bounds every operation itself
# (redis_store.OPERATION_TIMEOUT, and why). Connecting stays bounded here.
_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": None,
    "socket_connect_timeout": OPERATION_TIMEOUT,
}
# The sentinels are only asked where the primary is: plain socket timeouts are fine there.
_SENTINEL_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": OPERATION_TIMEOUT,
    "socket_connect_timeout": OPERATION_TIMEOUT,
}


def sentinel_hosts(url: str) -> list[tuple[str, int]]:
    """The sentinels' addresses from ``scheme://[auth@]h1:p1,h2:p2/db``."""
    netloc = urlparse(url).netloc.rpartition("@")[2]
    hosts: list[tuple[str, int]] = []
    for part in filter(None, netloc.split(",")):
        host, sep, port = part.rpartition(":")
        if not sep:
            host, port = part, ""
        try:
            hosts.append((host.strip("[]"), int(port or 26379)))
        except ValueError as exc:
            raise ConfigError("OTP_REDIS_URL: a sentinel port is not a number") from exc
    if not hosts:
        raise ConfigError("OTP_REDIS_URL must list at least one sentinel host:port")
    return hosts


def sentinel_connection_kwargs(url: str) -> dict[str, Any]:
    """Auth, database and TLS options of a sentinel URL, as redis-py connection kwargs."""
    parsed = urlparse(url)
    auth, _, hostlist = parsed.netloc.rpartition("@")
    first = hostlist.split(",")[0]
    single = urlunparse(parsed._replace(netloc=f"{auth}@{first}" if auth else first))
    kwargs: dict[str, Any] = dict(parse_url(single))
    for name in ("host", "port", "path", "connection_class"):
        kwargs.pop(name, None)
    if parsed.scheme == "rediss":
        kwargs["ssl"] = True
    return kwargs


def connect_redis(settings: Settings) -> AnyRedis:
    url = settings.redis_url
    if settings.redis_cluster:
        cluster: RedisCluster = RedisCluster.from_url(url, **_TIMEOUTS)
        return cluster
    if settings.redis_sentinel_master:
        kwargs = sentinel_connection_kwargs(url)
        # The sentinels themselves: same TLS options, no data-node credentials.
        sentinel_kwargs = {
            **_SENTINEL_TIMEOUTS,
            **{k: v for k, v in kwargs.items() if k == "ssl" or k.startswith("ssl_")},
        }
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            sentinel_hosts(url), sentinel_kwargs=sentinel_kwargs, **_TIMEOUTS, **kwargs
        )
        master: Redis = sentinel.master_for(
            settings.redis_sentinel_master, health_check_interval=HEALTH_CHECK_SECONDS
        )
        return master
    single: Redis = Redis.from_url(url, health_check_interval=HEALTH_CHECK_SECONDS, **_TIMEOUTS)
    return single
