"""A miniature Hugging Face hub on 127.0.0.1: the `resolve` endpoint that `hf_hub_download`
asks (HEAD for the commit, ETag and size; GET for the bytes), with the hub's error codes.
The real huggingface_hub client talks to it when HF_ENDPOINT points at it."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class FakeRepo:
    commit: str  # 40 hex digits: the only revision the repository has
    files: Mapping[str, bytes]


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo]
    requests: list[str] = field(default_factory=list)  # "METHOD path", in arrival order
    url: str = ""


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet: the tests read `hub.requests`
            pass

        def _answer(self, with_body: bool) -> None:
            hub.requests.append(f"{self.command} {self.path}")
            parts = unquote(self.path.split("?")[0]).strip("/").split("/", 4)
            if len(parts) != 5 or parts[2] != "resolve":
                return self._error(404, "RepoNotFound")
            repo_id, revision, filename = f"{parts[0]}/{parts[1]}", parts[3], parts[4]
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound")
            if revision not in (repo.commit, "main"):
                return self._error(404, "RevisionNotFound")
            if filename not in repo.files:
                return self._error(404, "EntryNotFound")
            body = repo.files[filename]
            self.send_response(200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def _error(self, status: int, code: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_GET(self) -> None:
            self._answer(with_body=True)

    return Handler


@contextmanager
def serving(hub: FakeHub) -> Iterator[FakeHub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
