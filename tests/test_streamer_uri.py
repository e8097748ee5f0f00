import pytest

from ssfile.errors import UsageError
from ssfile.streamer.uri import parse_stream_url


@pytest.mark.parametrize(
    "text,scheme,nodes,keys",
    [
        ("stdio:///a,b", "stdio", (".",), ("a", "b")),
        ("redis://localhost/", "redis", ("localhost",), ()),
        ("redis://127.0.0.1:6390/clock", "redis", ("127.0.0.1:6390",), ("clock",)),
        (
            "kafka://node-a:1234,node-b:1234/a,b",
            "kafka",
            ("node-a:1234", "node-b:1234"),
            ("a", "b"),
        ),
        ("file://./path/to/hi/a,b", "file", ("./path/to/hi",), ("a", "b")),
        ("file:///data/x.ss/hello", "file", ("/data/x.ss",), ("hello",)),
        ("file:///data/x.ss", "file", ("/data/x.ss",), ()),
        ("file:///data/x.ss/", "file", ("/data/x.ss",), ()),
        ("kafka://h:1/a,,b,", "kafka", ("h:1",), ("a", "b")),
    ],
)
def test_parse(text, scheme, nodes, keys):
    url = parse_stream_url(text)
    assert (url.scheme, url.nodes, url.stream_keys) == (scheme, nodes, keys)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("proto://sea-ql.org:1234/stream", "unknown protocol"),
        ("redis://localhost", "ending slash"),
        ("localhost:6379/a", "protocol is required"),
        ("redis:///a", "no node"),
        ("redis://h:99999/a", "bad port"),
        ("redis://h:1/bad key", "invalid stream key"),
        ("kafka://h:1/str:eam", "invalid stream key"),
        ("file:///a", "no file path"),
    ],
)
def test_errors(text, needle):
    with pytest.raises(UsageError, match=needle):
        parse_stream_url(text)


def test_require_keys():
    with pytest.raises(UsageError, match="names no stream key"):
        parse_stream_url("redis://h:1/", require_keys=True)
