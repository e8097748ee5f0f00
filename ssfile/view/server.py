"""The loopback HTTP server behind ``ssfile view``: stdlib ``ThreadingHTTPServer``.

* binds 127.0.0.1 only, and answers only requests whose ``Host`` names that address or
  ``localhost`` with our port (a page elsewhere cannot reach us by DNS rebinding);
* every request carries the random token: ``?token=`` in the URL (the page itself, its
  assets) or the ``X-SSFile-Token`` header (the page's API calls);
* static files come from a whitelist read from the package's ``static/`` at start-up (no
  path ever reaches the file system); the only data file is the one given;
* anything else is a 4xx with a JSON body ``{"error": "..."}``;
* a connection that sends nothing for ``idle_timeout`` seconds (default
  :data:`IDLE_TIMEOUT_S`; an unauthenticated client that connects and waits, or an idle
  keep-alive connection) is closed, so that no client holds a thread for long.
"""

from __future__ import annotations

import hmac
import importlib.resources
import json
import os
import pathlib
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources.abc import Traversable
from urllib.parse import parse_qs, urlsplit

from .api import Api, ApiError
from .jobs import JobBoard

TOKEN_HEADER = "X-SSFile-Token"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
MAX_URL = 8192
IDLE_TIMEOUT_S = 30.0
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def viewer_dir() -> Traversable:
    """The page's files: ``$SSFILE_VIEWER_DIR``, else the package data ``ssfile/view/static``
    (through importlib.resources: a wheel, an editable install or a checkout alike)."""
    env = os.environ.get("SSFILE_VIEWER_DIR")
    return pathlib.Path(env) if env else importlib.resources.files("ssfile.view") / "static"


def load_static(directory: Traversable, token: str) -> dict[str, tuple[str, bytes]]:
    """URL path -> (content type, body) for every servable file directly in ``directory``."""
    files: dict[str, tuple[str, bytes]] = {}
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        kind = STATIC_TYPES.get(os.path.splitext(entry.name)[1])
        if kind is None or not entry.is_file():
            continue
        body = entry.read_bytes()
        if entry.name == "index.html":
            body = body.replace(b"__TOKEN__", token.encode("ascii"))
            files["/"] = (kind, body)
        files["/" + entry.name] = (kind, body)
    if "/" not in files:
        raise FileNotFoundError(f"no index.html in {directory}")
    return files


class ViewServer(ThreadingHTTPServer):
    """Serves one ``.ss`` file's viewer on 127.0.0.1 (``port=0``: any free port)."""

    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        path: str,
        port: int = 0,
        *,
        token: str | None = None,
        static_dir: Traversable | None = None,
        jobs: JobBoard | None = None,
        log: bool = False,
        idle_timeout: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.token = token or secrets.token_urlsafe(24)
        self.static = load_static(static_dir or viewer_dir(), self.token)
        self.jobs = jobs or JobBoard(path)
        self.api = Api(path, self.jobs)
        self.log = log
        super().__init__(("127.0.0.1", port), Handler)
        self.port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.jobs.start()  # the overview's first read starts before any page asks

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def server_close(self) -> None:
        super().server_close()
        self.jobs.close()
        self.api.plots.close()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out or went away mid-response: one log line, no traceback."""
        if self.log:
            err = sys.exc_info()[1]
            sys.stderr.write(f"ssfile view: {client_address}: {type(err).__name__}: {err}\n")


class Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"
    server_version = "ssfile-view"
    disable_nagle_algorithm = (
        True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    )
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # type: ignore[misc]  # per connection: every read and write
        super().setup()

    # ---- responses ----------------------------------------------------------------------------

    def _send(
        self, status: int, kind: str, body: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (SECURITY_HEADERS | (extra or {})).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._send(status, "application/json; charset=utf-8", body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unsupported method) as JSON too."""
        self.close_connection = True
        if not hasattr(self, "wfile"):
            return
        if (
            self.request_version == "HTTP/0.9"
        ):  # a malformed request line: answer with a status line
            self.request_version = "HTTP/1.0"
        text = message or self.responses.get(code, ("error",))[0]
        self._json(code, {"error": text, "status": code})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        if self.server.log:
            sys.stderr.write(f"ssfile view: {self.address_string()} {format % args}\n")

    # ---- requests -----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        try:
            self._route()
        except ApiError as err:
            self._json(err.status, {"error": err.message, "status": err.status})

    def _refuse(self, *_: object) -> None:
        self.close_connection = True
        self._json(
            405,
            {
                "error": f"method {self.command} not allowed: the viewer API is GET only",
                "status": 405,
            },
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse  # noqa: N815

    def _route(self) -> None:
        if len(self.path) > MAX_URL:
            raise ApiError(414, f"URL longer than {MAX_URL} bytes")
        if self.headers.get("Host", "") not in self.server.hosts:
            raise ApiError(403, "unexpected Host header: use http://127.0.0.1:<port>/")
        url = urlsplit(self.path)
        try:
            query = parse_qs(
                url.query,
                keep_blank_values=True,
                strict_parsing=bool(url.query),
                max_num_fields=200,
            )
        except ValueError as err:
            raise ApiError(400, f"malformed query string: {err}") from None
        self._check_token(query.pop("token", None))
        if url.path.startswith("/api/"):
            self._json(200, self.server.api.handle(url.path[len("/api/") :], query))
            return
        found = self.server.static.get(url.path)
        if found is None:
            raise ApiError(404, f"not found: {url.path[:100]}")
        self._send(200, found[0], found[1])

    def _check_token(self, given: list[str] | None) -> None:
        token = self.headers.get(TOKEN_HEADER) or (given[0] if given else "")
        if not hmac.compare_digest(token.encode("utf-8", "replace"), self.server.token.encode()):
            raise ApiError(403, "missing or wrong token: open the URL that `ssfile view` printed")
