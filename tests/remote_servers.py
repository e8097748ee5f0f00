"""Remote stores for the tests: moto's S3 server (started by ``scripts/services``) and an
HTTP server with range requests (started here, on an ephemeral loopback port).

    SSFILE_TEST_S3=host:port    (default 127.0.0.1:19000, the `s3` service)

The S3 server not answering FAILS the tests that need it (never a skip).  The HTTP server
counts the requests and the body bytes it sends, so the tests measure what a seek
fetched on the server's side, independently of the client's own counters.
"""

from __future__ import annotations

import http.server
import os
import pathlib
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from servers import _addr, _require

# ---- S3 (moto) -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    host, port = _addr("SSFILE_TEST_S3", "127.0.0.1:19000")
    _require("the S3 server (moto)", "s3", host, port)
    return f"http://{host}:{port}"


@pytest.fixture()
def s3(s3_endpoint: str) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """(s3fs filesystem, a fresh bucket name, storage_options for ssfile)."""
    import s3fs

    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "eu-west-1"},
        "skip_instance_cache": True,
    }
    fs = s3fs.S3FileSystem(**options)
    bucket = f"ssfile-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    try:
        yield fs, bucket, options
    finally:
        fs.rm(bucket, recursive=True)


# ---- HTTP with ranges ------------------------------------------------------------------------


class RangeServer(http.server.ThreadingHTTPServer):
    """Serves the files of ``root``: HEAD, GET, and GET with one ``Range: bytes=a-b``."""

    daemon_threads = True

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.root = root
        self.requests = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.requests = self.bytes_sent = 0


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    server: RangeServer

    def log_message(self, *args: object) -> None:
        pass

    def _target(self) -> pathlib.Path | None:
        path = (self.server.root / self.path.lstrip("/").split("?")[0]).resolve()
        if self.server.root.resolve() not in path.parents or not path.is_file():
            self.send_error(404)
            return None
        return path

    def do_HEAD(self) -> None:
        path = self._target()
        if path is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()

    def do_GET(self) -> None:
        path = self._target()
        if path is None:
            return
        size = path.stat().st_size
        start, stop = 0, size
        found = _RANGE.match(self.headers.get("Range", ""))
        if found:
            start = int(found.group(1))
            stop = min(size, int(found.group(2)) + 1) if found.group(2) else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(stop - start)
        self.send_response(206 if found else 200)
        if found:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with self.server.lock:  # counted before the client can see the body
            self.server.requests += 1
            self.server.bytes_sent += len(body)
        self.wfile.write(body)


@pytest.fixture()
def http_files(tmp_path: pathlib.Path) -> Iterator[RangeServer]:
    """A range-capable HTTP server over a fresh directory (``server.root``)."""
    root = tmp_path / "www"
    os.makedirs(root)
    server = RangeServer(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
