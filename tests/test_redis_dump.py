"""``ssfile dump``: Redis Streams -> .ss against real servers (scripts/services starts them)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from servers import kill_cluster_node, restore_cluster

import ssfile
from ssfile.adapters.redis import dumper as redis_dump
from ssfile.adapters.redis import source as redis_source
from ssfile.cli import main
from ssfile.errors import BackendError

Row = tuple[str, int, int, int, bytes]  # key, shard, sequence, timestamp, payload


def fill(client: Any, redis_key: str, n: int, *, prefix: str = "m") -> None:
    """``n`` entries with a lone ``msg`` field; many share a millisecond (seq part > 0)."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(redis_key, {"msg": f"{prefix}{i}".encode()})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def expected(client: Any, redis_key: str, stream_key: str, shard: int) -> list[Row]:
    """What the dump must hold for one stream, computed from redis-py's own XRANGE."""
    rows = []
    for entry_id, fields in client.xrange(redis_key):
        ms, seq = (int(x) for x in entry_id.split(b"-"))
        rows.append((stream_key, shard, ms * 65536 + seq, ms, fields[b"msg"]))
    return rows


def read(path: pathlib.Path) -> list[Row]:
    with ssfile.open(path) as r:
        return [(m.stream_key, m.shard_id, m.sequence, m.timestamp_ms, m.payload) for m in r]


def uri(addr: tuple[str, int], key: str) -> str:
    return f"redis://{addr[0]}:{addr[1]}/{key}"


def run_dump(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["dump", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ---- plain server --------------------------------------------------------------------------


def test_dump_plain_stream(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(redis_client, redis_key, 12_345)
    out = tmp_path / "d.ss"
    code, stdout, _ = run_dump(
        capsys, uri(redis_addr, redis_key), "--output", str(out), "--page-size", "1000"
    )
    assert code == 0
    assert "wrote 12345 messages" in stdout
    assert read(out) == expected(redis_client, redis_key, redis_key, 0)
    with ssfile.open(out) as r:
        list(r)
        assert not r.ended  # no EOS unless asked


def test_eos_when_asked(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(redis_client, redis_key, 3)
    out = tmp_path / "d.ss"
    assert run_dump(capsys, uri(redis_addr, redis_key), "-o", str(out), "--eos")[0] == 0
    with ssfile.open(out) as r:
        assert len(list(r)) == 3 and r.ended


def test_all_shards_merged_by_entry_id(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for i in range(300):  # explicit ids interleave the shards: 1000-0 on shard 0, 1001-0 on 1...
        redis_client.xadd(f"{redis_key}:{i % 3}", {"msg": f"e{i}"}, id=f"{1000 + i}-{i % 2}")
    redis_client.xadd(f"{redis_key}:12", {"msg": "late"}, id="5000-7")
    redis_client.set(f"{redis_key}:x", "not a shard")  # not KEY:N: ignored
    redis_client.xadd(f"{redis_key}:1:2", {"msg": "nested"})  # not KEY:N: ignored
    out = tmp_path / "d.ss"
    assert run_dump(capsys, uri(redis_addr, redis_key), "-o", str(out), "--page-size", "7")[0] == 0
    got = read(out)
    want = [
        r for s in (0, 1, 2, 12) for r in expected(redis_client, f"{redis_key}:{s}", redis_key, s)
    ]
    assert sorted(got, key=lambda r: (r[3], r[2], r[1])) == got  # time order across shards
    assert sorted(got) == sorted(want)
    assert {r[1] for r in got} == {0, 1, 2, 12}


def test_range_is_half_open(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for ms in range(1000, 1010):
        for seq in range(3):
            redis_client.xadd(redis_key, {"msg": f"{ms}-{seq}"}, id=f"{ms}-{seq}")
    out = tmp_path / "d.ss"
    code, _, _ = run_dump(
        capsys,
        uri(redis_addr, redis_key),
        "-o",
        str(out),
        "--since",
        "1003",
        "--until",
        "1970-01-01T00:00:01.007",
    )
    assert code == 0
    assert [r[4] for r in read(out)] == [
        f"{ms}-{s}".encode() for ms in range(1003, 1007) for s in range(3)
    ]


def test_rerun_appends_only_what_is_missing(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fill(redis_client, f"{redis_key}:0", 500, prefix="a")
    fill(redis_client, f"{redis_key}:1", 300, prefix="b")
    out = tmp_path / "d.ss"
    assert run_dump(capsys, uri(redis_addr, redis_key), "-o", str(out))[0] == 0
    fill(redis_client, f"{redis_key}:1", 200, prefix="c")  # new entries after the first run
    fill(redis_client, f"{redis_key}:2", 100, prefix="d")  # and a new shard
    code, stdout, _ = run_dump(capsys, uri(redis_addr, redis_key), "-o", str(out))
    assert code == 0 and "wrote 300 messages" in stdout
    want = [r for s in (0, 1, 2) for r in expected(redis_client, f"{redis_key}:{s}", redis_key, s)]
    assert sorted(read(out)) == sorted(want)
    code, stdout, _ = run_dump(capsys, uri(redis_addr, redis_key), "-o", str(out))
    assert "wrote 0 messages" in stdout and len(read(out)) == len(want)


def test_interrupted_dump_resumes_without_duplicates(
    redis_client: Any, redis_addr: tuple[str, int], redis_key: str, tmp_path: pathlib.Path
) -> None:
    fill(redis_client, redis_key, 5000)
    out = tmp_path / "d.ss"
    source = redis_source.open_source(uri(redis_addr, redis_key))
    seen = []

    def interrupt(n: int) -> None:
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        redis_dump.dump(
            source, [redis_key], out, redis_dump.DumpOptions(page_size=700), progress=interrupt
        )
    partial = read(out)
    want = expected(redis_client, redis_key, redis_key, 0)
    assert partial == want[: len(partial)] and 0 < len(partial) < len(want)
    with open(out, "r+b") as f:  # and tear the last frame, as a kill -9 mid-write would
        f.truncate(os.path.getsize(out) - 3)
    stats = redis_dump.dump(source, [redis_key], out)
    source.close()
    assert read(out) == want
    assert stats.messages == len(want) - len(partial) + 1


def test_field_rules(
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    redis_client.xadd(redis_key, {"msg": "plain"})
    redis_client.execute_command("XADD", redis_key, "*", "msg", "one", "msg", "two")
    redis_client.xadd(redis_key, {"msg": "body", "type": "order"})
    redis_client.xadd(redis_key, {"temp": "21"})
    auto, upstream = tmp_path / "auto.ss", tmp_path / "msg.ss"
    assert run_dump(capsys, uri(redis_addr, redis_key), "-o", str(auto))[0] == 0
    payloads = [r[4] for r in read(auto)]
    assert payloads[:3] == [b"plain", b"one", b"two"]
    assert [json.loads(p) for p in payloads[3:]] == [
        {"msg": "body", "type": "order"},
        {"temp": "21"},
    ]
    code, stdout, stderr = run_dump(
        capsys, uri(redis_addr, redis_key), "-o", str(upstream), "--fields", "msg"
    )
    assert code == 0 and "wrote 4 messages (4 entries)" in stdout
    assert "ignored 2 fields" in stderr
    assert [r[4] for r in read(upstream)] == [b"plain", b"one", b"two", b"body"]


# ---- faults: one clear line, non-zero exit, no traceback -----------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "make_uri, code, message",
    [
        (lambda a, k: f"http://{a[0]}:{a[1]}/{k}", 2, "unknown protocol 'http'"),
        (lambda a, k: f"kafka://{a[0]}:{a[1]}/{k}", 2, "is not a Redis URL"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}", 2, "ending slash"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}/", 2, "names no stream key"),
        (lambda a, k: f"redis://{a[0]}:99999/{k}", 2, "bad port"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}/bad*key", 2, "invalid stream key"),
        (lambda a, k: f"redis://{a[0]}:{free_port()}/{k}", 1, "refused"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}/{k}-missing", 1, "no stream"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}/{k}-string", 1, "is not a stream (it is a string)"),
        (lambda a, k: f"redis://{a[0]}:{a[1]}/{k}-bigseq", 1, "exceeds 65535"),
    ],
)
def test_errors(
    make_uri: Any,
    code: int,
    message: str,
    redis_client: Any,
    redis_addr: tuple[str, int],
    redis_key: str,
    tmp_path: pathlib.Path,
) -> None:
    redis_client.set(f"{redis_key}-string", "x")
    redis_client.xadd(f"{redis_key}-bigseq", {"msg": "x"}, id="5-70000")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ssfile",
                "dump",
                make_uri(redis_addr, redis_key),
                "-o",
                str(tmp_path / "d.ss"),
                "--retry-for",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        redis_client.delete(f"{redis_key}-string", f"{redis_key}-bigseq")
    assert result.returncode == code, result.stderr
    assert message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_server_killed_mid_dump_then_rerun_resumes(
    private_redis: Any, tmp_path: pathlib.Path
) -> None:
    client = private_redis.client()
    fill(client, "s", 6000)
    want = expected(client, "s", "s", 0)
    client.save()  # so the restarted server has the data again
    source = redis_source.open_source(f"redis://127.0.0.1:{private_redis.port}/s", retry_for=0.3)
    out = tmp_path / "d.ss"
    pages = []

    def kill_after_two_pages(n: int) -> None:
        pages.append(n)
        if len(pages) == 2:
            private_redis.kill()

    with pytest.raises(BackendError, match=f"redis://127.0.0.1:{private_redis.port}: "):
        redis_dump.dump(
            source,
            ["s"],
            out,
            redis_dump.DumpOptions(page_size=1000),
            progress=kill_after_two_pages,
        )
    assert read(out) == want[:2000]
    private_redis.start()
    stats = redis_dump.dump(source, ["s"], out)
    source.close()
    assert stats.messages == 4000 and read(out) == want


def test_server_restarted_mid_dump_within_retry_window(
    private_redis: Any, tmp_path: pathlib.Path
) -> None:
    client = private_redis.client()
    fill(client, "s", 3000)
    want = expected(client, "s", "s", 0)
    client.save()
    source = redis_source.open_source(f"redis://127.0.0.1:{private_redis.port}/s", retry_for=10)
    out = tmp_path / "d.ss"
    pages = []

    def restart_after_first_page(n: int) -> None:
        pages.append(n)
        if len(pages) == 1:
            private_redis.kill()
            private_redis.start()

    stats = redis_dump.dump(
        source,
        ["s"],
        out,
        redis_dump.DumpOptions(page_size=1000),
        progress=restart_after_first_page,
    )
    source.close()
    assert stats.messages == 3000 and read(out) == want


# ---- Redis Cluster -------------------------------------------------------------------------


def test_dump_sharded_key_from_cluster(
    cluster_client: Any,
    cluster_addr: tuple[str, int],
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = "c-" + os.urandom(4).hex()
    try:
        for s in range(4):
            fill(cluster_client, f"{key}:{s}", 400 + s, prefix=f"s{s}-")
        nodes = {cluster_client.get_node_from_key(f"{key}:{s}").name for s in range(4)}
        assert len(nodes) > 1  # the shards really live on different masters
        out = tmp_path / "d.ss"
        code, stdout, _ = run_dump(
            capsys, uri(cluster_addr, key), "-o", str(out), "--page-size", "100"
        )
        assert code == 0, stdout
        want = [r for s in range(4) for r in expected(cluster_client, f"{key}:{s}", key, s)]
        assert sorted(read(out)) == sorted(want)
    finally:
        for s in range(4):
            cluster_client.delete(f"{key}:{s}")


def test_master_failover_mid_dump_loses_and_duplicates_nothing(
    cluster_client: Any, cluster_addr: tuple[str, int], tmp_path: pathlib.Path
) -> None:
    import redis

    key = "f-" + os.urandom(4).hex()
    master = cluster_client.get_node_from_key(key)
    direct = redis.Redis(host=master.host, port=master.port)
    fill(direct, key, 8000)
    assert direct.execute_command("WAIT", 1, 10_000) >= 1  # the replica has every entry
    want = expected(direct, key, key, 0)
    # the hardest case: the only node named in the URI is the master that dies
    source = redis_source.open_source(uri((master.host, master.port), key), retry_for=30)
    out = tmp_path / "d.ss"
    pages = []

    def kill_master_after_first_page(n: int) -> None:
        pages.append(n)
        if len(pages) == 1:
            kill_cluster_node(master.port)

    try:
        stats = redis_dump.dump(
            source,
            [key],
            out,
            redis_dump.DumpOptions(page_size=1000),
            progress=kill_master_after_first_page,
        )
        assert source.is_cluster
        assert stats.messages == len(want) and read(out) == want
        survivor = next(n for n in cluster_client.get_nodes() if n.port != master.port)
        fresh = redis.cluster.RedisCluster(host=survivor.host, port=survivor.port)
        assert fresh.get_node_from_key(key).port != master.port  # a replica took over
        fresh.close()
    finally:
        source.close()
        restore_cluster()
        cleanup = redis.cluster.RedisCluster(host=cluster_addr[0], port=cluster_addr[1])
        cleanup.delete(key)
        cleanup.close()
