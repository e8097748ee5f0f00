"""Helpers of the Kafka tests: test streamers, a private noida-db broker (for tests that stop
or restart a broker), the known broker gaps as strict xfail marks."""

from __future__ import annotations

import asyncio
import os
import pathlib
import socket
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_CONSUMER = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}

# Known gaps of the brokers we can install (../shared/reference/services-notes.md, and
# measured here); each test they break is an explicit strict xfail naming the broker.
TANSU_WATERMARK = pytest.mark.xfail(
    reason="Tansu: wrong high watermark (it counts record batches), so follow=False consumers "
    "end early and 'latest'/'end' positions are wrong",
    strict=True,
)
TANSU_TIMES = pytest.mark.xfail(
    reason="Tansu: offsets_for_times always answers offset 0", strict=True
)
TANSU_NO_CREATE_PARTITIONS = pytest.mark.xfail(
    reason="Tansu: no CreatePartitions (KIP-195)", strict=True
)
NOIDA_NO_EVICTION = pytest.mark.xfail(
    reason="noida-db: a group member killed with SIGKILL is never evicted (the group stays "
    "stuck in its rebalance)",
    strict=True,
)


def broker_params(noida_gaps=(), tansu_gaps=()) -> pytest.MarkDecorator:
    """Like :func:`brokers`, with gaps of noida-db too."""
    return pytest.mark.parametrize(
        "broker",
        [
            pytest.param("noida", marks=list(noida_gaps)),
            pytest.param("tansu", marks=list(tansu_gaps)),
        ],
        indirect=True,
    )


def brokers(*tansu_gaps: pytest.MarkDecorator) -> pytest.MarkDecorator:
    """Run the test on noida-db and on Tansu (with Tansu's gaps that break it as xfail)."""
    return pytest.mark.parametrize(
        "broker", ["noida", pytest.param("tansu", marks=list(tansu_gaps))], indirect=True
    )


def run(coro, timeout: float = 60):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def streamer(bootstrap: str, **options):  # type: ignore[no-untyped-def]
    """A streamer with its own topic namespace (fresh topics and groups every time)."""
    from ssfile.streamer import connect

    options.setdefault("topic_prefix", f"t{uuid.uuid4().hex[:10]}.")
    options.setdefault("consumer_config", TEST_CONSUMER)
    return await connect(f"kafka://{bootstrap}/", **options)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssfile_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ssfile", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


class PrivateNoida:
    """A noida-db broker of the test's own, on a free port, its data in ``dir`` (kept across
    restarts).  Stopped with SIGTERM, which writes its state (SIGKILL loses the latest)."""

    def __init__(self, dir: pathlib.Path) -> None:
        self.dir = dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        try:
            import importlib.resources as resources

            binary = str(resources.files("noida_db").joinpath("noida-db"))
        except ModuleNotFoundError:
            pytest.fail(
                "noida-db is not installed: run `scripts/services start noida`", pytrace=False
            )
        os.chmod(binary, 0o755)
        self.proc = subprocess.Popen(
            [
                binary,
                "start",
                "--host",
                "127.0.0.1",
                "--only",
                "kafka",
                "--kafka-port",
                str(self.port),
                "--data-dir",
                str(self.dir / "data"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.fail(f"private noida-db on port {self.port} did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
