"""Fixtures for the real servers that ``scripts/services`` starts (``./scripts/test`` does it).

A server that is not reachable FAILS the test that needs it (never a skip), with a message
saying how to start it.  Addresses can be overridden with environment variables so the same
tests run against servers elsewhere:

    SSFILE_TEST_REDIS=host:port            (default 127.0.0.1:6390)
    SSFILE_TEST_REDIS_CLUSTER=host:port    (default 127.0.0.1:7001, any node)
    SSFILE_TEST_REDIS_AUTH=host:port       (default 127.0.0.1:6391: requirepass + ACL user)
    SSFILE_TEST_REDIS_TLS=host:port        (default 127.0.0.1:6392: TLS only)
    SSFILE_TEST_REDIS_TLS_CA=ca.crt        (default run/redis-tls/ca.crt)
    SSFILE_TEST_KAFKA=host:port[,...]      (default 127.0.0.1:19092, noida-db)
    SSFILE_TEST_KAFKA_TANSU=host:port      (default 127.0.0.1:19093, Tansu)
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN = ROOT / "run"
SERVICES = ROOT / "scripts" / "services"
HINT = "run `scripts/services start {}` (./scripts/test starts every server itself)"


def _addr(env: str, default: str) -> tuple[str, int]:
    host, _, port = os.environ.get(env, default).split(",")[0].rpartition(":")
    return host, int(port)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _require(what: str, service: str, host: str, port: int) -> None:
    if not _reachable(host, port):
        pytest.fail(
            f"{what} is not reachable on {host}:{port}: {HINT.format(service)}", pytrace=False
        )


# ---- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_addr() -> tuple[str, int]:
    """(host, port) of the test redis-server, checked to answer PING."""
    host, port = _addr("SSFILE_TEST_REDIS", "127.0.0.1:6390")
    _require("redis-server", "redis", host, port)
    import redis

    try:
        redis.Redis(host=host, port=port, socket_timeout=5).ping()
    except redis.RedisError as err:
        pytest.fail(
            f"redis-server on {host}:{port} does not answer PING ({err}): {HINT.format('redis')}",
            pytrace=False,
        )
    return host, port


@pytest.fixture()
def redis_client(redis_addr: tuple[str, int]) -> Iterator[object]:
    import redis

    client = redis.Redis(host=redis_addr[0], port=redis_addr[1])
    yield client
    client.close()


@pytest.fixture()
def redis_key(redis_client: object) -> Iterator[str]:
    """A fresh stream key name; the key and its ``key:N`` shards are deleted afterwards."""
    key = "t-" + uuid.uuid4().hex[:12]
    yield key
    _delete_key(redis_client, key)


def _delete_key(client: object, key: str) -> None:
    names = [key] + list(client.scan_iter(match=f"{key}:*", count=1000))  # type: ignore[attr-defined]
    for name in names:
        client.delete(name)  # one by one: in a cluster the shards live in different slots


@pytest.fixture(scope="session")
def cluster_addr() -> tuple[str, int]:
    """(host, port) of one node of the test Redis Cluster, checked to be in state ok."""
    host, port = _addr("SSFILE_TEST_REDIS_CLUSTER", "127.0.0.1:7001")
    _require("the Redis Cluster", "cluster", host, port)
    wait_cluster_ok(host, port, what=f"the Redis Cluster at {host}:{port}")
    return host, port


def wait_cluster_ok(host: str, port: int, *, what: str, seconds: float = 30) -> None:
    import redis

    deadline = time.monotonic() + seconds
    state = "unreachable"
    while time.monotonic() < deadline:
        try:
            state = redis.Redis(host=host, port=port, socket_timeout=2).cluster("info")[
                "cluster_state"
            ]
        except redis.RedisError as err:
            state = str(err)
        if state == "ok":
            return
        time.sleep(0.1)
    pytest.fail(
        f"{what} is not in cluster_state ok ({state}): {HINT.format('cluster')}", pytrace=False
    )


@pytest.fixture()
def cluster_client(cluster_addr: tuple[str, int]) -> Iterator[object]:
    from redis.cluster import RedisCluster

    client = RedisCluster(host=cluster_addr[0], port=cluster_addr[1])
    yield client
    client.close()


def kill_cluster_node(port: int) -> None:
    """SIGKILL the local cluster node on ``port`` (started by scripts/services)."""
    pid = int((RUN / "cluster" / str(port) / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)


def restore_cluster() -> None:
    """Restart any dead local cluster node (it rejoins) and wait for cluster_state ok."""
    subprocess.run([str(SERVICES), "start", "cluster"], check=True, capture_output=True, timeout=60)


# ---- a private redis-server, for tests that kill or restart it -----------------------------


class PrivateRedis:
    """A redis-server of the test's own, on a free port, with its data in ``dir``."""

    def __init__(self, dir: pathlib.Path) -> None:
        self.dir = dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(f"redis-server is not installed: {HINT.format('redis')}", pytrace=False)
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                pytest.fail(
                    f"private redis-server on port {self.port} did not start (see {self.dir})"
                )
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self) -> object:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)


@pytest.fixture()
def private_redis(tmp_path: pathlib.Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


# ---- secured Redis servers (scripts/services: redis-auth, redis-tls) ---------------------------

#: the credentials scripts/services gives the redis-auth server (loopback test servers only)
REDIS_AUTH_PASSWORD = os.environ.get("SSFILE_TEST_REDIS_AUTH_PASSWORD", "ssfile-test-pw")
REDIS_ACL_USER, REDIS_ACL_PASSWORD = os.environ.get(
    "SSFILE_TEST_REDIS_ACL", "rec:rec-test-pw"
).split(":", 1)
REDIS_ACL_KEYS = "rec"  # the ACL user may use the keys rec*


def redis_auth_node() -> str:
    return os.environ.get("SSFILE_TEST_REDIS_AUTH", "127.0.0.1:6391")


def redis_tls_node() -> str:
    return os.environ.get("SSFILE_TEST_REDIS_TLS", "127.0.0.1:6392")


def redis_tls_ca() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SSFILE_TEST_REDIS_TLS_CA", RUN / "redis-tls" / "ca.crt"))


@pytest.fixture(scope="session")
def redis_auth_addr() -> str:
    """host:port of the redis-server with a password and an ACL user, checked to answer."""
    import redis

    host, port = _addr("SSFILE_TEST_REDIS_AUTH", redis_auth_node())
    _require("the password-protected redis-server", "redis-auth", host, port)
    try:
        redis.Redis(host=host, port=port, password=REDIS_AUTH_PASSWORD, socket_timeout=5).ping()
    except redis.RedisError as err:
        pytest.fail(
            f"redis-auth on {host}:{port}: {err}: {HINT.format('redis-auth')}", pytrace=False
        )
    return f"{host}:{port}"


@pytest.fixture(scope="session")
def redis_tls_addr() -> str:
    """host:port of the TLS-only redis-server (its CA: :func:`redis_tls_ca`), checked."""
    import redis

    host, port = _addr("SSFILE_TEST_REDIS_TLS", redis_tls_node())
    _require("the TLS redis-server", "redis-tls", host, port)
    try:
        redis.Redis(
            host=host, port=port, ssl=True, ssl_ca_certs=str(redis_tls_ca()), socket_timeout=5
        ).ping()
    except redis.RedisError as err:
        pytest.fail(f"redis-tls on {host}:{port}: {err}: {HINT.format('redis-tls')}", pytrace=False)
    return f"{host}:{port}"


# ---- Kafka-protocol brokers ----------------------------------------------------------------


def kafka_client_config(bootstrap: str) -> dict[str, str]:
    """librdkafka settings of the tests' own confluent-kafka clients: the bootstrap servers
    and ``SSFILE_KAFKA_*`` (as ssfile's own clients take them), so that the whole suite runs
    against a secured cluster (README, "Connections")."""
    from ssfile.streamer.settings import environment

    return {"bootstrap.servers": bootstrap, **environment("kafka")}


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap servers of the main Kafka-protocol broker (noida-db unless overridden)."""
    servers = os.environ.get("SSFILE_TEST_KAFKA", "127.0.0.1:19092")
    host, port = _addr("SSFILE_TEST_KAFKA", servers)
    _require("the Kafka broker (noida-db)", "noida", host, port)
    return servers


@pytest.fixture(scope="session")
def tansu_bootstrap() -> str:
    """Bootstrap server of the Tansu broker (for the parts of the Kafka suite it supports)."""
    servers = os.environ.get("SSFILE_TEST_KAFKA_TANSU", "127.0.0.1:19093")
    host, port = _addr("SSFILE_TEST_KAFKA_TANSU", servers)
    _require("the Tansu Kafka broker", "tansu", host, port)
    return servers
