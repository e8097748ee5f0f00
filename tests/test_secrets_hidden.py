"""A password never appears in any output of a failing command: relay, dump and clock given a
password in the URL, in -X, in a --config file or in the environment, failing in every way
(bad URL, refused connection, rejected credentials, bad settings, librdkafka's refusal)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys

import pytest

import ssfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRET = "Sekr3t-Pw-4821"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ssfile", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture()
def recording(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "in.ss"
    with ssfile.open(path, "w") as w:
        w.write(b"x", stream_key="k")
    return path


def cases(redis: str, kafka: str, tmp: pathlib.Path, recording: pathlib.Path):
    dead = f"127.0.0.1:{free_port()}"
    props = tmp / "client.properties"
    props.write_text(f"password={SECRET}\nclient_name=x\n")
    toml = tmp / "client.toml"
    toml.write_text(f'[kafka]\n"sasl.password" = "{SECRET}"\n"security.protocol" = "nonsense"\n')
    out = f"file://{tmp}/out.ss/k"
    src = f"file://{recording}/k"
    return [
        # bad URLs
        (["relay", "--input", f"redis://u:{SECRET}@h:99999/k", "--output", out], None),
        (["dump", f"redis://u:{SECRET}@h/x/k", "-o", str(tmp / "d.ss")], None),
        (["clock", "--stream", f"rediss://:{SECRET}@h/k?bad", "--count", "1"], None),
        # refused connections
        (["relay", "--input", f"redis://:{SECRET}@{dead}/k", "--output", out], None),
        (["dump", f"rediss://u:{SECRET}@{dead}/k", "-o", str(tmp / "d.ss")], None),
        # credentials the server rejects (it has no such user / no password)
        (["relay", "--input", f"redis://nobody:{SECRET}@{redis}/k", "--output", out], None),
        (
            ["dump", f"redis://:{SECRET}@{redis}/k", "-o", str(tmp / "d.ss"), "--retry-for", "0"],
            None,
        ),
        (
            ["clock", "--stream", f"redis://{redis}/k", "--count", "1"],
            {"SSFILE_REDIS_PASSWORD": SECRET},
        ),
        (["dump", f"redis://{redis}/k", "-o", str(tmp / "d.ss"), "--config", str(props)], None),
        (
            [
                "relay",
                "--input",
                src,
                "--output",
                f"redis://{redis}/k",
                "-X",
                f"redis.password={SECRET}",
            ],
            None,
        ),
        # settings refused
        (
            [
                "relay",
                "--input",
                src,
                "--output",
                f"redis://{redis}/k",
                "-X",
                f"ssl_password={SECRET}",
            ],
            None,
        ),
        (["relay", "--input", src, "--output", f"kafka://{kafka}/k", "--config", str(toml)], None),
        (
            [
                "clock",
                "--stream",
                f"kafka://{kafka}/k",
                "--count",
                "1",
                "-X",
                "security.protocol=bogus",
            ],
            {"SSFILE_KAFKA_SASL_PASSWORD": SECRET},
        ),
        (
            [
                "relay",
                "--input",
                src,
                "--output",
                f"kafka://user:{SECRET}@{kafka}/k",
                "-X",
                "sasl.mechanism=NOPE",
            ],
            None,
        ),
    ]


def test_no_output_of_a_failing_command_shows_the_password(
    redis_addr, kafka_bootstrap, tmp_path, recording
):
    redis = f"{redis_addr[0]}:{redis_addr[1]}"
    kafka = kafka_bootstrap.split(",")[0]
    for args, env in cases(redis, kafka, tmp_path, recording):
        r = run(args, env)
        shown = " ".join(args)
        assert r.returncode != 0, (shown, r.stderr)
        assert SECRET not in r.stdout + r.stderr, (shown, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (
            shown,
            r.stderr,
        )


def test_relay_parses_a_password_url_as_dump_does(redis_addr, tmp_path, recording):
    """Once `relay` refused `redis://:secret@host:port/k` ("bad host in node") while `dump`
    took it: one parser now, and both reach the server with the credentials."""
    redis = f"{redis_addr[0]}:{redis_addr[1]}"
    for user in ("", "nobody"):
        url = f"redis://{user}:{SECRET}@{redis}/k"
        relay = run(["relay", "--input", url, "--output", f"file://{tmp_path}/o.ss/k"])
        dump = run(["dump", url, "-o", str(tmp_path / "d.ss"), "--retry-for", "0"])
        for r in (relay, dump):
            assert r.returncode == 1 and "invalid stream URL" not in r.stderr, r.stderr
            if user:  # the server has no such user: both were refused by the server
                assert f"redis://{redis}: cannot connect: " in r.stderr, r.stderr
                assert "invalid username-password pair" in r.stderr, r.stderr


def test_librdkafka_refuses_a_wrong_security_protocol_with_its_own_message(kafka_bootstrap):
    r = run(
        [
            "clock",
            "--stream",
            f"kafka://{kafka_bootstrap}/k",
            "--count",
            "1",
            "-X",
            "security.protocol=carrier-pigeon",
        ]
    )
    assert r.returncode == 2, r.stderr
    assert "client settings: " in r.stderr
    assert 'Invalid value "carrier-pigeon" for configuration property "security.protocol"' in (
        r.stderr
    ), r.stderr
