"""A local stand-in for the Hugging Face hub, for download tests.

Serves one folder as a model repo at a fixed commit, speaking the endpoints and
headers that huggingface_hub 0.36 uses for `HfApi.model_info`,
`HfApi.get_paths_info` and `hf_hub_download`:

  GET  /api/models/{repo}[/revision/{rev}][?blobs=True]   model info (+ siblings)
  POST /api/models/{repo}/paths-info/{rev}                paths info
  HEAD/GET /{repo}/resolve/{rev}/{file}                   file metadata / content
  HEAD/GET /lfs-cdn/{sha256}                              where LFS files redirect to

Like the real hub, files > 1 KiB are LFS: `resolve` answers 302 to a "CDN" URL
with X-Linked-Etag (the sha256) and X-Linked-Size; small files are served
directly with ETag = git blob sha1. Content supports `Range: bytes=N-`.

Knobs a test can set on a running stub:
  required_token    None = public repo; else the repo is gated: metadata stays
                    public, files need this token (no token -> 401 GatedRepo),
                    and any other token is rejected everywhere (401 invalid credentials).
  licence_accepted  False -> the right token still gets 403 GatedRepo on files.
  fail_after_bytes  {filename: n}: the first content GET of that file sends n
                    bytes, then the connection is closed mid-body.
  corrupt           {filename: bytes}: served instead of the real content, while
                    every piece of metadata still describes the real file.
  hold_after_bytes  {filename: n}: the first content GET of that file sends n bytes,
                    sets `held`, then waits for `release` before sending the rest
                    (a download caught mid-file, for as long as a test needs).
  requests          log of LoggedRequest(method, path, range, authorization).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_THRESHOLD = 1024


class LoggedRequest(NamedTuple):
    method: str
    path: str
    range: str | None
    authorization: str | None


class RepoFile(NamedTuple):
    name: str
    size: int
    sha256: str | None  # LFS files only
    blob_id: str  # git blob sha1 of the content, or of the LFS pointer
    pointer_size: int | None

    @property
    def etag(self) -> str:
        return self.sha256 or self.blob_id


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def describe(path: Path, name: str) -> RepoFile:
    data = path.read_bytes()
    if len(data) <= LFS_THRESHOLD:
        return RepoFile(name, len(data), None, git_blob_sha1(data), None)
    sha256 = hashlib.sha256(data).hexdigest()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
    return RepoFile(name, len(data), sha256, git_blob_sha1(pointer), len(pointer))


class HubStub:
    def __init__(self, folder: str | Path, repo_id: str, commit: str = FAKE_COMMIT) -> None:
        self.folder = Path(folder)
        self.repo_id = repo_id
        self.commit = commit
        self.required_token: str | None = None
        self.licence_accepted = True
        self.fail_after_bytes: dict[str, int] = {}
        self.corrupt: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}  # a hostile hub's ETag for a (non-LFS) file...
        self.honest_heads: dict[str, int] = {}  # ...sent after this many honest HEADs
        self.hold_after_bytes: dict[str, int] = {}
        self.held = threading.Event()
        self.release = threading.Event()
        self.requests: list[LoggedRequest] = []
        self._gets: dict[str, int] = {}  # content GETs per file, for fail_after_bytes
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> HubStub:
        stub = self

        class Handler(_Handler):
            hub = stub

        self._server = _Server(("127.0.0.1", 0), Handler)
        # A short poll interval keeps stop() quick (shutdown waits for one poll).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.release.set()  # a held transfer must not outlive the stub
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> HubStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the stub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests look at ----------------------------------------------

    def content_gets(self, filename: str) -> list[LoggedRequest]:
        """GETs that fetched the bytes of `filename` (resolve or CDN)."""
        info = self.file(filename)
        paths = {f"/{self.repo_id}/resolve/main/{filename}",
                 f"/{self.repo_id}/resolve/{self.commit}/{filename}"}
        if info is not None and info.sha256:
            paths = {f"/lfs-cdn/{info.sha256}"}
        return [r for r in self.requests if r.method == "GET" and r.path in paths]

    # -- repo contents ---------------------------------------------------

    def files(self) -> list[RepoFile]:
        return [describe(p, p.relative_to(self.folder).as_posix())
                for p in sorted(self.folder.rglob("*")) if p.is_file()]

    def file(self, name: str) -> RepoFile | None:
        path = self.folder / name
        if not name or ".." in Path(name).parts or not path.is_file():
            return None
        return describe(path, name)

    def by_sha256(self, sha256: str) -> RepoFile | None:
        return next((f for f in self.files() if f.sha256 == sha256), None)

    def body(self, name: str) -> bytes:
        if name in self.corrupt:
            return self.corrupt[name]
        return (self.folder / name).read_bytes()

    def log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def take_failure(self, name: str) -> int | None:
        """Bytes to send before cutting this GET short, or None to send all."""
        with self._lock:
            count = self._gets.get(name, 0)
            self._gets[name] = count + 1
        if count == 0 and name in self.fail_after_bytes:
            return self.fail_after_bytes[name]
        return None

    def take_hold(self, name: str) -> int | None:
        """Bytes to send before holding this GET, or None (only the first GET holds)."""
        with self._lock:
            return self.hold_after_bytes.pop(name, None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, *args, **kwargs) -> None:
        self.open_sockets: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def get_request(self):
        sock, addr = super().get_request()
        self.open_sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        # Keep-alive connections would otherwise outlive the stub.
        for sock in list(self.open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    hub: HubStub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real hub

    def log_message(self, *args) -> None:
        pass

    # -- routing ---------------------------------------------------------

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        hub = self.hub
        hub.log(LoggedRequest(method, path, self.headers.get("Range"), self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        query = parse_qs(url.query)

        api = f"/api/models/{hub.repo_id}"
        resolve = f"/{hub.repo_id}/resolve/"
        if path.startswith("/lfs-cdn/") and method in ("GET", "HEAD"):
            return self._cdn(method, path.removeprefix("/lfs-cdn/"))
        if not self._authorized(files=path.startswith(resolve)):
            return
        if method == "GET" and (path == api or path.startswith(api + "/revision/")):
            revision = path.removeprefix(api + "/revision/") if path != api else "main"
            return self._model_info(revision, blobs=query.get("blobs", ["false"])[0].lower() == "true")
        if method == "POST" and path.startswith(api + "/paths-info/"):
            return self._paths_info(path.removeprefix(api + "/paths-info/"), form.get("paths", []))
        if method in ("GET", "HEAD") and path.startswith(resolve):
            revision, _, name = path.removeprefix(resolve).partition("/")
            return self._resolve(method, revision, name)
        if path.startswith("/api/models/") or "/resolve/" in path:
            return self._error(404, "RepoNotFound", "Repository not found")
        self._error(404, None, "Not found")

    # -- auth, like the hub does it for a gated repo ---------------------

    def _authorized(self, files: bool) -> bool:
        hub = self.hub
        if hub.required_token is None:
            return True
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if token is not None and token != hub.required_token:
            # No error code: huggingface_hub then raises a plain 401 HfHubHTTPError.
            self._error(401, None, "Invalid credentials in Authorization header")
            return False
        if not files:
            return True  # a gated repo's metadata is public
        if token is None:
            self._error(401, "GatedRepo",
                        f"Access to model {hub.repo_id} is restricted. You must have access to it "
                        "and be authenticated to access it. Please log in.")
            return False
        if not hub.licence_accepted:
            self._error(403, "GatedRepo",
                        f"Access to model {hub.repo_id} is restricted and you are not in the "
                        "authorized list. Visit the model page to ask for access.")
            return False
        return True

    # -- endpoints -------------------------------------------------------

    def _revision_ok(self, revision: str) -> bool:
        if revision in ("main", self.hub.commit):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _model_info(self, revision: str, blobs: bool) -> None:
        if not self._revision_ok(revision):
            return
        hub = self.hub
        siblings = []
        for f in hub.files():
            sibling: dict = {"rfilename": f.name}
            if blobs:
                sibling.update(size=f.size, blobId=f.blob_id)
                if f.sha256:
                    sibling["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            siblings.append(sibling)
        self._json({
            "_id": "0" * 24, "id": hub.repo_id, "modelId": hub.repo_id, "sha": hub.commit,
            "private": False, "gated": "manual" if hub.required_token else False, "disabled": False,
            "lastModified": "2025-01-01T00:00:00.000Z", "tags": [], "siblings": siblings,
        })

    def _paths_info(self, revision: str, paths: list[str]) -> None:
        if not self._revision_ok(revision):
            return
        out = []
        for name in paths:
            f = self.hub.file(name)
            if f is None:
                continue
            entry: dict = {"type": "file", "oid": f.blob_id, "size": f.size, "path": f.name}
            if f.sha256:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
            out.append(entry)
        self._json(out)

    def _resolve(self, method: str, revision: str, name: str) -> None:
        hub = self.hub
        if not self._revision_ok(revision):
            return
        f = hub.file(name)
        if f is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on {revision}",
                        {"X-Repo-Commit": hub.commit})
            return
        if f.sha256:
            # LFS: the hub redirects to a signed CDN URL and names the real blob
            # in X-Linked-Etag / X-Linked-Size (ETag is the pointer's).
            self._send(302, b"", {
                "Location": f"{hub.endpoint}/lfs-cdn/{f.sha256}?filename={quote(name)}",
                "X-Repo-Commit": hub.commit,
                "ETag": f'"{f.blob_id}"',
                "X-Linked-Etag": f'"{f.sha256}"',
                "X-Linked-Size": str(f.size),
            })
            return
        etag = f.blob_id
        if name in hub.etags:
            honest = hub.honest_heads.get(name, 0)
            hub.honest_heads[name] = honest - (method == "HEAD")
            etag = f.blob_id if honest > 0 else hub.etags[name]
        self._content(method, f, {"X-Repo-Commit": hub.commit, "ETag": f'"{etag}"'})

    def _cdn(self, method: str, sha256: str) -> None:
        f = self.hub.by_sha256(sha256)
        if f is None:
            self._error(404, None, "No such blob")
            return
        self._content(method, f, {"ETag": f'"{f.sha256}"'})

    def _content(self, method: str, f: RepoFile, headers: dict[str, str]) -> None:
        data = self.hub.body(f.name)
        start, status = 0, 200
        wanted = self.headers.get("Range")
        headers = dict(headers, **{"Accept-Ranges": "bytes"})
        if wanted:
            spec = wanted.removeprefix("bytes=")
            first, _, last = spec.partition("-")
            start = int(first or 0)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                self._send(416, b"", dict(headers, **{"Content-Range": f"bytes */{len(data)}"}))
                return
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start:end + 1], 206
        if method == "HEAD":
            self._send(status, b"", headers, length=len(data))
            return
        hold = self.hub.take_hold(f.name)
        if hold is not None:
            try:
                self._send(status, data[:hold], headers, length=len(data))
                self.hub.held.set()
                self.hub.release.wait(timeout=60)
                self.wfile.write(data[hold:])
                self.wfile.flush()
            except OSError:  # the client hung up meanwhile (a cancelled download)
                self.close_connection = True
            return
        cut = self.hub.take_failure(f.name)
        if cut is None:
            self._send(status, data, headers)
            return
        # Announce the whole body, send part of it, then drop the connection.
        self._send(status, data[:cut], headers, length=len(data))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- plumbing --------------------------------------------------------

    def _json(self, payload) -> None:
        self._send(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _error(self, status: int, code: str | None, message: str, extra: dict | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        body = b"" if self.command == "HEAD" else json.dumps({"error": message}).encode()
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str], length: int | None = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body:
            self.wfile.write(body)
            self.wfile.flush()
