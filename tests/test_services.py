"""scripts/services: the real servers the suite needs are up, answer, and `start` is idempotent."""

from __future__ import annotations

import subprocess

import pytest
from servers import RUN, SERVICES


def services(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SERVICES), *args], capture_output=True, text=True, timeout=120)


def pids() -> dict[str, str]:
    return {str(p.relative_to(RUN)): p.read_text().strip() for p in RUN.rglob("*.pid")}


def test_status_reports_every_server_running() -> None:
    result = services("status", "all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(result.stdout.split("\n")[:-1]) == [
        "cluster: running",
        "noida: running",
        "redis-auth: running",
        "redis-tls: running",
        "redis: running",
        "s3: running",
        "tansu: running",
    ]


def test_start_again_keeps_the_running_servers() -> None:
    before = pids()
    result = services("start", "all")
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr
    assert pids() == before
    assert len(before) == 12  # redis, redis-auth, redis-tls, 6 cluster nodes, noida, tansu, s3


@pytest.mark.parametrize("args", [("restart",), ("start", "mysql"), ()])
def test_bad_arguments_are_usage_errors(args: tuple[str, ...]) -> None:
    result = services(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_redis_answers(redis_client: object) -> None:
    assert redis_client.ping() is True  # type: ignore[attr-defined]
    assert redis_client.config_get("save")["save"] == ""  # type: ignore[attr-defined]


def test_cluster_has_three_masters_with_a_replica_each(cluster_client: object) -> None:
    nodes = cluster_client.get_nodes()  # type: ignore[attr-defined]
    roles = sorted(n.server_type for n in nodes)
    assert roles == ["primary"] * 3 + ["replica"] * 3
    info = cluster_client.cluster_info()  # type: ignore[attr-defined]
    assert int(info["cluster_slots_assigned"]) == 16384


@pytest.mark.parametrize("fixture", ["kafka_bootstrap", "tansu_bootstrap"])
def test_kafka_brokers_answer_metadata(fixture: str, request: pytest.FixtureRequest) -> None:
    from confluent_kafka.admin import AdminClient

    bootstrap = request.getfixturevalue(fixture)
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    assert len(metadata.brokers) == 1
    broker = next(iter(metadata.brokers.values()))
    assert f"{broker.host}:{broker.port}" == bootstrap
