"""A git origin over smart HTTP on loopback that, like GitHub, refuses anonymous pushes.

`git http-backend` (git's own CGI server) behind a small HTTP server that demands
`Authorization: basic base64(x-access-token:<token>)`, the form actions/checkout and mlci send.
A push that forgets the token fails exactly as it would against github.com.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

GIT_TOKEN = "ghs_gitHttpOriginToken0000000000001"


@dataclass
class GitHttpOrigin:
    url: str  # the repository's URL: http://127.0.0.1:PORT/origin.git
    server_url: str  # what GITHUB_SERVER_URL would be
    bare: Path
    token: str = GIT_TOKEN
    refused: list[str] = field(default_factory=list)  # paths asked without (or with a wrong) token


def _expected(token: str) -> str:
    return "basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


def _handler(origin: GitHttpOrigin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            if (self.headers.get("Authorization") or "").lower() != _expected(origin.token).lower():
                origin.refused.append(self.path)
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", ""),
                "GIT_PROJECT_ROOT": str(origin.bare.parent),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "x-access-token",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            }
            body = self._body() if self.command == "POST" else b""
            env["CONTENT_LENGTH"] = str(len(body))
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def git_http_origin(tmp_path: Path):
    """An empty bare repo served at `origin.url`; pushes need `origin.token`."""
    bare = tmp_path / "served" / "origin.git"
    bare.parent.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "http.receivepack", "true"], check=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server_url = f"http://127.0.0.1:{server.server_address[1]}"
    origin = GitHttpOrigin(url=f"{server_url}/origin.git", server_url=server_url, bare=bare)
    server.RequestHandlerClass = _handler(origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
