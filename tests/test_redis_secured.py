"""relay, dump and clock against real secured servers (scripts/services: redis-auth, redis-tls):
a password for the default user, an ACL user limited to keys rec*, and TLS with the test CA.
A denied key is a clear permission error naming the key (exit 1, no retry loop); a wrong CA
or a wrong password fails clearly; the password is in no output."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid

from servers import (
    REDIS_ACL_PASSWORD,
    REDIS_ACL_USER,
    REDIS_AUTH_PASSWORD,
    RUN,
    redis_tls_ca,
)

import ssfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAYLOADS = [f'{{"n": {i}}}'.encode() for i in range(50)]


def ssfile_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # the timeout only guards against a hang (a retry loop would hit it and fail the test)
    return subprocess.run(
        [sys.executable, "-m", "ssfile", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def recording(tmp_path: pathlib.Path, key: str) -> pathlib.Path:
    path = tmp_path / "in.ss"
    with ssfile.open(path, "w") as w:
        for p in PAYLOADS:
            w.write(p, stream_key=key)
    return path


def payloads(path: pathlib.Path) -> list[bytes]:
    with ssfile.open(path) as r:
        return [m.payload for m in r]


def relay_then_dump(tmp_path, url_of, key, *extra, env=None):
    """file -> Redis (relay) -> file (dump): every payload arrives, in order."""
    src = recording(tmp_path, key)
    r = ssfile_cli(
        "relay",
        "--input",
        f"file://{src}/{key}",
        "--output",
        url_of(key),
        "--no-follow",
        *extra,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.ss"
    d = ssfile_cli("dump", url_of(key), "-o", str(out), *extra, env=env)
    assert d.returncode == 0, d.stderr
    assert payloads(out) == PAYLOADS
    for text in (r.stdout, r.stderr, d.stdout, d.stderr):
        assert REDIS_AUTH_PASSWORD not in text and REDIS_ACL_PASSWORD not in text
    return d


def test_relay_and_dump_with_the_password_in_the_url(redis_auth_addr, tmp_path):
    key = f"pw-{uuid.uuid4().hex[:8]}"
    relay_then_dump(
        tmp_path, lambda k: f"redis://:{REDIS_AUTH_PASSWORD}@{redis_auth_addr}/{k}", key
    )


def test_relay_and_dump_with_the_password_from_the_environment(redis_auth_addr, tmp_path):
    key = f"env-{uuid.uuid4().hex[:8]}"
    env = {"SSFILE_REDIS_PASSWORD": REDIS_AUTH_PASSWORD}
    relay_then_dump(tmp_path, lambda k: f"redis://{redis_auth_addr}/{k}", key, env=env)


def test_relay_and_dump_as_the_acl_user_from_a_config_file(redis_auth_addr, tmp_path):
    config = tmp_path / "redis.toml"
    config.write_text(
        f'[redis]\nusername = "{REDIS_ACL_USER}"\npassword = "{REDIS_ACL_PASSWORD}"\n'
    )
    key = f"rec-{uuid.uuid4().hex[:8]}"
    relay_then_dump(
        tmp_path, lambda k: f"redis://{redis_auth_addr}/{k}", key, "--config", str(config)
    )


def test_a_wrong_password_fails_clearly(redis_auth_addr, tmp_path):
    for args in (
        ["dump", f"redis://:not-the-password@{redis_auth_addr}/k", "-o", str(tmp_path / "d.ss")],
        ["clock", "--stream", f"redis://{REDIS_ACL_USER}:not-the-password@{redis_auth_addr}/k"],
    ):
        r = ssfile_cli(*args)
        assert r.returncode == 1, r.stderr
        assert f"redis://{redis_auth_addr}: cannot connect: " in r.stderr
        assert "invalid username-password pair" in r.stderr and "not-the-password" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_a_key_the_acl_user_may_not_use_is_a_clear_permission_error(redis_auth_addr, tmp_path):
    """Exit 1 at once with one line naming the key and the user, even with a long retry_for
    (a retry loop would run into the subprocess timeout)."""
    denied = f"other-{uuid.uuid4().hex[:8]}"
    url = f"redis://{REDIS_ACL_USER}:{REDIS_ACL_PASSWORD}@{redis_auth_addr}/{denied}?retry_for=600"
    src = recording(tmp_path, denied)
    for args in (
        ["relay", "--input", f"file://{src}/{denied}", "--output", url],
        ["relay", "--input", url, "--output", f"file://{tmp_path}/o.ss/{denied}"],
        ["dump", url, "-o", str(tmp_path / "d.ss"), "--retry-for", "600"],
    ):
        r = ssfile_cli(*args)
        assert r.returncode == 1, r.stderr
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in line, line
        assert f"permission denied for user '{REDIS_ACL_USER}'" in line, line
        assert denied in line and "no permissions" in line, line
        assert REDIS_ACL_PASSWORD not in line


def test_rediss_with_the_ca(redis_tls_addr, tmp_path):
    key = f"tls-{uuid.uuid4().hex[:8]}"
    ca = redis_tls_ca()
    relay_then_dump(tmp_path, lambda k: f"rediss://{redis_tls_addr}/{k}?ssl_ca_certs={ca}", key)
    # the CA given as -X, and tls=1 on a redis:// URL, are the same thing
    key2 = f"tls-{uuid.uuid4().hex[:8]}"
    (tmp_path / "out.ss").unlink()
    relay_then_dump(
        tmp_path, lambda k: f"redis://{redis_tls_addr}/{k}?tls=1", key2, "-X", f"ssl_ca_certs={ca}"
    )


def test_rediss_with_a_wrong_ca_or_plain_redis_fails_clearly(redis_tls_addr, tmp_path):
    wrong = RUN / "redis-tls" / "wrong-ca.crt"
    if os.environ.get("SSFILE_TEST_REDIS_TLS_CA"):
        wrong = pathlib.Path(os.environ["SSFILE_TEST_REDIS_TLS_WRONG_CA"])
    for url, needle in (
        (f"rediss://{redis_tls_addr}/k?ssl_ca_certs={wrong}", "certificate verify failed"),
        (f"rediss://{redis_tls_addr}/k", "certificate verify failed"),  # system CAs only
        (f"redis://{redis_tls_addr}/k?timeout=2", "cannot connect"),  # no TLS at all
    ):
        for args in (
            ["dump", url, "-o", str(tmp_path / "d.ss"), "--retry-for", "0"],
            ["clock", "--stream", url, "--count", "1"],
        ):
            r = ssfile_cli(*args)
            assert r.returncode == 1, (args, r.stderr)
            assert needle in r.stderr and f"redis://{redis_tls_addr}" in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
