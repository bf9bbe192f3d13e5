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

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import DataError
from redis.maint_notifications import MaintNotificationsConfig

from otpservice.config import ConfigError, Settings
from otpservice.storage.scripts import OPERATION_TIMEOUT, AnyRedis

HEALTH_CHECK_SECONDS = 15
# Data connections: no socket timeout, the store bounds every operation itself
# (storage/scripts.py: OPERATION_TIMEOUT, and why). Connecting stays bounded here.
_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": None,
    "socket_connect_timeout": OPERATION_TIMEOUT,
}
# The sentinels are only asked where the primary is: plain socket timeouts are fine there.
_SENTINEL_TIMEOUTS: dict[str, Any] = {
    "socket_timeout": OPERATION_TIMEOUT,
    "socket_connect_timeout": OPERATION_TIMEOUT,
}


class HiredisPacking:
    """A connection that packs commands with hiredis (C) instead of redis-py's asyncio
    connection, which builds the RESP bytes in Python: ~20 µs for a script call with its
    ~15 arguments against ~3 µs, on every Redis round trip (bench/NOTES.md). The bytes
    are the same; the command name is split as redis-py splits it ("SCRIPT LOAD")."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:  # what redis-py's encoder refuses (None, objects)
            raise DataError(str(exc)) from exc


_PACKING: dict[type[Any], type[Any]] = {}


def packing(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` with hiredis packing (one subclass per class, made once)."""
    if issubclass(connection_class, HiredisPacking):
        return connection_class
    made = _PACKING.get(connection_class)
    if made is None:
        name = "Hiredis" + connection_class.__name__
        made = _PACKING[connection_class] = type(name, (HiredisPacking, connection_class), {})
    return made


def pack_with_hiredis(client: AnyRedis) -> AnyRedis:
    """Every connection ``client`` makes from now on packs with hiredis (connections are
    made lazily, so this holds for all of them)."""
    if isinstance(client, RedisCluster):
        manager = client.nodes_manager
        default = manager.connection_kwargs.get("connection_class")
        if default is not None:
            manager.connection_kwargs["connection_class"] = packing(default)
        for node in manager.startup_nodes.values():
            node.connection_class = packing(node.connection_class)
        return client
    pool = client.connection_pool
    pool.connection_class = packing(pool.connection_class)
    return client


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
        return pack_with_hiredis(cluster)
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
        return pack_with_hiredis(master)
    single: Redis = Redis.from_url(
        url,
        health_check_interval=HEALTH_CHECK_SECONDS,
        # redis-py's "auto" maintenance notifications skip the check that a pooled
        # connection is still open: after a Redis restart every stale connection would
        # answer one request with a ConnectionError (a 503) before it is replaced.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
        **_TIMEOUTS,
    )
    return pack_with_hiredis(single)
