"""One URI and settings layer for redis://, rediss:// and kafka:// (ssfile/streamer/uri.py,
ssfile/streamer/settings.py): credentials, database, query settings, -X, --config files and
the environment, in that order of precedence, with secrets never shown."""

from __future__ import annotations

import pytest

from ssfile.adapters.kafka.streamer import KafkaOptions
from ssfile.adapters.redis.client import RedisOptions, client_kwargs
from ssfile.errors import UsageError
from ssfile.redact import redact
from ssfile.streamer.settings import environment, parse_assignment, read_config, resolve
from ssfile.streamer.uri import parse_stream_url

NO_ENV: dict[str, str] = {}


def test_credentials_database_and_query_of_a_redis_url():
    url = parse_stream_url(
        "rediss://rec:p%40ss%2Fw0rd@h1:7000,[::1]:7001/3/a,b?ssl_ca_certs=/x/ca.crt&client_name=me"
    )
    assert url.scheme == "rediss"
    assert url.nodes == ("h1:7000", "[::1]:7001")
    assert url.stream_keys == ("a", "b")
    assert (url.username, url.password, url.db) == ("rec", "p@ss/w0rd", 3)
    assert url.settings == (("ssl_ca_certs", "/x/ca.crt"), ("client_name", "me"))


def test_a_password_alone_and_no_database():
    url = parse_stream_url("redis://:secret-pw-1@host:6379/k")
    assert (url.username, url.password, url.db, url.stream_keys) == (
        None,
        "secret-pw-1",
        None,
        ("k",),
    )


def test_the_password_is_never_shown_by_str_repr_or_errors():
    url = parse_stream_url("redis://u:hidden-pw-2@h:1/k?ssl_password=hidden-pw-3&tls=1")
    for text in (str(url), repr(url)):
        assert "hidden-pw" not in text and "u:***@h:1" in text and "ssl_password=***" in text
    for bad in (
        "redis://u:hidden-pw-4@h:99999/k",
        "redis://u:hidden-pw-4@h/notadb/k",
        "redis://u:hidden-pw-4@h/k?oops",
        "redis://u:hidden-pw-4@h",
        "redis://u:hidden-pw-4@h/bad*key",
    ):
        with pytest.raises(UsageError) as err:
            parse_stream_url(bad)
        assert "hidden-pw" not in str(err.value) and "***" in str(err.value)


def test_a_short_password_is_masked_in_the_url_but_not_in_free_text():
    url = parse_stream_url("redis://u:pw@h:1/k")
    assert "pw" not in str(url).replace("://", "")  # shown as u:***@
    assert redact("the pwd file") == "the pwd file"


def test_kafka_credentials_become_sasl_settings():
    url, options = resolve(
        "kafka://alice:kafka-pw-5@b1:9092/t?security.protocol=SASL_SSL",
        KafkaOptions,
        {},
        environ=NO_ENV,
    )
    assert options.settings == {
        "sasl.username": "alice",
        "sasl.password": "kafka-pw-5",
        "security.protocol": "SASL_SSL",
    }
    assert "kafka-pw-5" not in repr(options)
    with pytest.raises(UsageError, match="expected nothing there"):
        parse_stream_url("kafka://b1:9092/2/t")


def test_precedence_environment_url_settings_options():
    env = {"SSFILE_REDIS_PASSWORD": "from-env-pw", "SSFILE_REDIS_CLIENT_NAME": "env"}
    _, o = resolve("redis://h/k", RedisOptions, {}, environ=env)
    assert o.password == "from-env-pw" and o.settings == {"client_name": "env"}
    _, o = resolve("redis://:from-url-pw@h/k?client_name=url", RedisOptions, {}, environ=env)
    assert o.password == "from-url-pw" and o.settings == {"client_name": "url"}
    _, o = resolve(
        "redis://:from-url-pw@h/k",
        RedisOptions,
        {"settings": {"password": "from-settings", "redis.client_name": "x", "kafka.acks": "1"}},
        environ=env,
    )
    assert o.password == "from-settings" and o.settings == {"client_name": "x"}
    _, o = resolve(
        "redis://:from-url-pw@h/k", RedisOptions, {"password": "explicit-pw"}, environ=env
    )
    assert o.password == "explicit-pw"


def test_option_names_set_options_with_their_types():
    _, o = resolve(
        "redis://h/5/k?timeout=2.5&block_ms=10&tls=yes&key_prefix=app:",
        RedisOptions,
        {},
        environ=NO_ENV,
    )
    assert (o.db, o.timeout, o.block_ms, o.tls, o.key_prefix) == (5, 2.5, 10, True, "app:")
    assert o.settings == {}
    with pytest.raises(
        UsageError, match=r"setting block_ms='soon' \(from the URL\): expected an integer"
    ):
        resolve("redis://h/k?block_ms=soon", RedisOptions, {}, environ=NO_ENV)
    with pytest.raises(UsageError, match="SSFILE_REDIS_TLS.*expected a boolean"):
        resolve("redis://h/k", RedisOptions, {}, environ={"SSFILE_REDIS_TLS": "maybe"})


def test_kafka_environment_maps_to_librdkafka_names():
    env = {
        "SSFILE_KAFKA_SASL_PASSWORD": "x",
        "SSFILE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SSFILE_REDIS_PASSWORD": "not-kafka",
        "OTHER": "1",
    }
    assert environment("kafka", env) == {"sasl.password": "x", "security.protocol": "SASL_SSL"}
    assert environment("rediss", env) == {"password": "not-kafka"}


def test_redis_client_settings_are_checked():
    import redis

    url, o = resolve(
        "rediss://h/k?ssl_ca_certs=/ca.crt&ssl_check_hostname=0", RedisOptions, {}, environ=NO_ENV
    )
    kw = client_kwargs(url, o, redis.Redis)
    assert (
        kw["ssl"] is True and kw["ssl_ca_certs"] == "/ca.crt" and kw["ssl_check_hostname"] is False
    )
    url, o = resolve("redis://h/k?ssl_ca_certs=/ca.crt", RedisOptions, {}, environ=NO_ENV)
    with pytest.raises(UsageError, match="needs TLS: use rediss://"):
        client_kwargs(url, o, redis.Redis)
    url, o = resolve("redis://h/k?colour=red", RedisOptions, {}, environ=NO_ENV)
    with pytest.raises(UsageError, match="unknown Redis setting 'colour'"):
        client_kwargs(url, o, redis.Redis)


def test_assignments_and_config_files(tmp_path):
    assert parse_assignment("sasl.mechanism=PLAIN") == ("sasl.mechanism", "PLAIN")
    assert parse_assignment("a=b=c") == ("a", "b=c")
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        parse_assignment("novalue")
    props = tmp_path / "client.properties"
    props.write_text(
        "# librdkafka\nsecurity.protocol=SASL_SSL\nsasl.mechanism: PLAIN\n\n"
        "! comment\nbootstrap.timeout = 3\n"
    )
    assert read_config(str(props)) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "bootstrap.timeout": "3",
    }
    toml = tmp_path / "client.toml"
    toml.write_text(
        'timeout = 2\n[sasl]\nmechanism = "PLAIN"\n[redis]\nssl_ca_certs = "/ca"\n'
        '[kafka]\n"security.protocol" = "SSL"\n'
    )
    found = read_config(str(toml))
    assert found == {
        "timeout": 2,
        "sasl.mechanism": "PLAIN",
        "redis.ssl_ca_certs": "/ca",
        "kafka.security.protocol": "SSL",
    }
    _, o = resolve("kafka://h/t", KafkaOptions, {"settings": found}, environ=NO_ENV)
    assert o.settings == {"sasl.mechanism": "PLAIN", "security.protocol": "SSL"}
    assert o.timeout == 2.0  # an option of KafkaOptions, not a librdkafka property
    bad = tmp_path / "bad.properties"
    bad.write_text("ok=1\njust words\n")
    with pytest.raises(UsageError, match="bad.properties: line 2: expected name=value"):
        read_config(str(bad))
    with pytest.raises(UsageError, match="--config .*missing.toml"):
        read_config(str(tmp_path / "missing.toml"))


def test_kafka_settings_from_the_url_and_environment_reach_librdkafka(monkeypatch):
    """No broker needed: librdkafka refuses the settings when the clients are made, with its
    own message (the local brokers offer no SASL or TLS to test a secured connection)."""
    import asyncio

    from ssfile.streamer import connect

    def refused(url: str) -> str:
        with pytest.raises(UsageError) as err:
            asyncio.run(connect(url))
        return str(err.value)

    text = refused("kafka://127.0.0.1:1/?security.protocol=bogus-one")
    assert "client settings: " in text
    assert 'Invalid value "bogus-one" for configuration property "security.protocol"' in text
    assert 'No such configuration property: "no.such.thing"' in refused(
        "kafka://127.0.0.1:1/?no.such.thing=1"
    )
    monkeypatch.setenv("SSFILE_KAFKA_SECURITY_PROTOCOL", "bogus-two")
    assert '"bogus-two" for configuration property "security.protocol"' in refused(
        "kafka://127.0.0.1:1/"
    )
    monkeypatch.setenv("SSFILE_KAFKA_SECURITY_PROTOCOL", "plaintext")
    assert "sasl.username and sasl.password given but security.protocol is 'plaintext'" in (
        refused("kafka://me:some-pw-77@127.0.0.1:1/")
    )
