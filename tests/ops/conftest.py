"""Operations tests: the e2e harness (simulator, Api), plus real Redis topologies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import (  # noqa: F401 - fixtures re-used here
    ADMIN_KEY,
    PROVIDER_KEY,
    SECRET,
    WEB_KEY,
    Api,
    Sim,
    service_env,
    sim,
    sim_server,
)
from tests.support.topologies import ClusterProcesses, SentinelProcesses


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    nodes = ClusterProcesses(tmp_path_factory.mktemp("cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="session")
def replicated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcesses]:
    """3 primaries with one replica each: WAIT on a Cluster."""
    nodes = ClusterProcesses(tmp_path_factory.mktemp("rcluster"), size=6, replicas=1)
    try:
        nodes.start()
        nodes.wait_replicas_synced()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture(scope="session")
def sentinel_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelProcesses]:
    group = SentinelProcesses(tmp_path_factory.mktemp("sentinel"))
    try:
        group.start()
        yield group
    finally:
        group.stop()
