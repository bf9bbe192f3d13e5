"""Real Redis topologies for the operations tests: a 3-primary Cluster, a primary + replica
watched by a Sentinel, an ACL user, and a TLS listener with a throwaway CA."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.servers import REDIS_SERVER, RedisProcess, free_port

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if predicate():  # type: ignore[operator]
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; both must be < 65536."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(20_000, 55_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterProcesses:
    """``size`` nodes, slots spread by ``redis-cli --cluster create`` (3 primaries, and
    ``replicas`` replicas for each)."""

    def __init__(self, directory: Path, size: int = 3, replicas: int = 0) -> None:
        self.replicas = replicas
        self.nodes = [
            RedisProcess(
                directory / f"node{i}",
                port=cluster_port(),
                args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> ClusterProcesses:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            _wait(
                lambda c=client: "cluster_state:ok" in str(c.execute_command("CLUSTER", "INFO")),
                30,
                "cluster_state:ok",
            )
            client.close()
        return self

    def wait_replicas_synced(self, timeout: float = 30) -> None:
        for node in self.replica_nodes():
            client = redis.Redis(port=node.port, decode_responses=True)
            _wait(
                lambda c=client: c.info("replication").get("master_link_status") == "up",
                timeout,
                "cluster replica in sync",
            )
            client.close()

    def replica_nodes(self) -> list[RedisProcess]:
        out = []
        for node in self.nodes:
            client = redis.Redis(port=node.port, decode_responses=True)
            if client.info("replication")["role"] == "slave":
                out.append(node)
            client.close()
        return out

    def flush(self) -> None:
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            with contextlib.suppress(redis.ReadOnlyError):  # replicas follow their primary
                client.flushall()
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelProcesses:
    """A primary, one replica and one Sentinel (quorum 1) that can fail over between them."""

    MASTER = "otpmaster"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.primary = RedisProcess(directory / "primary", args=("--appendonly", "yes"))
        self.replica = RedisProcess(directory / "replica", args=("--appendonly", "yes"))
        self.sentinel_port = free_port()
        self.sentinel: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What OTP_REDIS_URL holds for Sentinel: the sentinels' addresses."""
        return f"redis://127.0.0.1:{self.sentinel_port}/0"

    def start(self) -> SentinelProcesses:
        self.primary.start()
        self.replica.args = (*self.replica.args, "--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        primary = redis.Redis(port=self.primary.port)
        _wait(lambda: primary.info("replication")["connected_slaves"] >= 1, 20, "replica link")
        replica = redis.Redis(port=self.replica.port)
        _wait(
            lambda: replica.info("replication").get("master_link_status") == "up",
            20,
            "replica in sync",
        )
        replica.close()
        primary.close()
        directory = self.directory / "sentinel"
        directory.mkdir(parents=True, exist_ok=True)
        conf = directory / "sentinel.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {self.sentinel_port}",
                    "bind 127.0.0.1",
                    f"dir {directory}",
                    f"sentinel monitor {self.MASTER} 127.0.0.1 {self.primary.port} 1",
                    f"sentinel down-after-milliseconds {self.MASTER} 1000",
                    f"sentinel failover-timeout {self.MASTER} 10000",
                    f"sentinel parallel-syncs {self.MASTER} 1",
                    "",
                ]
            )
        )
        self.sentinel = subprocess.Popen(
            [REDIS_SERVER, str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.sentinel_port, decode_responses=True)

        def replica_known() -> bool:
            rows = client.execute_command("SENTINEL", "REPLICAS", self.MASTER)
            for row in rows:
                info = dict(zip(row[::2], row[1::2], strict=True)) if isinstance(row, list) else row
                if info.get("flags") == "slave" and info.get("master-link-status") == "ok":
                    return True
            return False

        _wait(replica_known, 30, "sentinel to see the replica")
        client.close()
        return self

    def master_port(self) -> int:
        client = redis.Redis(port=self.sentinel_port)
        try:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.MASTER)
        finally:
            client.close()
        return int(port)

    def failover(self, timeout: float = 30) -> int:
        """A graceful ``SENTINEL FAILOVER``; returns the new primary's port once it writes."""
        before = self.master_port()
        client = redis.Redis(port=self.sentinel_port)
        # NOGOODSLAVE while the sentinel still refreshes its view of the replica: retry.
        _wait(lambda: client.execute_command("SENTINEL", "FAILOVER", self.MASTER), 15, "failover")
        client.close()
        _wait(lambda: self.master_port() != before, timeout, "sentinel to switch")
        after = self.master_port()
        node = redis.Redis(port=after)
        _wait(lambda: node.info("replication")["role"] == "master", timeout, "new primary")
        node.close()
        return after

    def wait_replica_online(self, timeout: float = 60) -> None:
        """Until the current primary has an online replica (the old primary, rejoined)."""
        node = redis.Redis(port=self.master_port(), decode_responses=True)

        def online() -> bool:
            info = node.info("replication")
            return any(
                isinstance(v, dict) and v.get("state") == "online"
                for k, v in info.items()
                if k.startswith("slave")
            )

        try:
            _wait(online, timeout, "a replica to come online")
        finally:
            node.close()

    def flush(self) -> None:
        self.wait_replica_online()
        client = redis.Redis(port=self.master_port())
        client.flushall()
        client.execute_command("WAIT", 1, 2000)
        client.close()

    def stop(self) -> None:
        if self.sentinel is not None:
            self.sentinel.terminate()
            self.sentinel.wait(10)
            self.sentinel = None
        self.replica.stop()
        self.primary.stop()


@contextlib.contextmanager
def acl_redis(directory: Path, user: str, password: str) -> Iterator[RedisProcess]:
    """A redis-server whose default user is off; ``user``/``password`` may use ``otp:*``."""
    server = RedisProcess(
        directory,
        args=(
            *("--user", "default", "off"),
            *("--user", user, "on", f">{password}", "~otp:*", "&*", "+@all"),
        ),
    )
    # RedisProcess.start pings without a password: start it by hand.
    server.directory.mkdir(parents=True, exist_ok=True)
    server.proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(server.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            *server.args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=server.port, username=user, password=password)
    try:
        _wait(client.ping, 10, "ACL redis")
    finally:
        client.close()
    try:
        yield server
    finally:
        server.stop()


def tls_files(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        name: directory / file
        for name, file in {
            "ca_key": "ca.key",
            "ca": "ca.pem",
            "key": "server.key",
            "csr": "server.csr",
            "cert": "server.pem",
            "ext": "san.ext",
        }.items()
    }
    paths["ext"].write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str | Path) -> None:
        subprocess.run([OPENSSL, *map(str, args)], check=True, capture_output=True, timeout=60)

    new_key = ("-newkey", "rsa:2048", "-nodes")
    run(
        "req",
        "-x509",
        *new_key,
        "-days",
        "1",
        "-subj",
        "/CN=otp-test-ca",
        "-keyout",
        paths["ca_key"],
        "-out",
        paths["ca"],
    )
    run("req", *new_key, "-subj", "/CN=127.0.0.1", "-keyout", paths["key"], "-out", paths["csr"])
    ca = ("-CA", paths["ca"], "-CAkey", paths["ca_key"], "-CAcreateserial")
    run(
        "x509",
        "-req",
        "-in",
        paths["csr"],
        *ca,
        "-days",
        "1",
        "-extfile",
        paths["ext"],
        "-out",
        paths["cert"],
    )
    return paths


@contextlib.contextmanager
def tls_redis(directory: Path) -> Iterator[tuple[int, dict[str, Path]]]:
    """A redis-server that only speaks TLS (no client certificates required)."""
    files = tls_files(directory / "tls")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(REDIS_SERVER, "--port", "0", "--tls-port", str(port)),
            *("--tls-cert-file", str(files["cert"]), "--tls-key-file", str(files["key"])),
            *("--tls-ca-cert-file", str(files["ca"]), "--tls-auth-clients", "no"),
            *("--bind", "127.0.0.1", "--dir", str(directory), "--save", ""),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(files["ca"]))
    try:
        _wait(client.ping, 10, "TLS redis")
        client.close()
        yield port, files
    finally:
        proc.terminate()
        proc.wait(10)
