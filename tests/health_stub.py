"""A team server's /healthz on loopback, as the connection tests need it: 200 with the
free slots for the right bearer token, 401 for any other, 404 elsewhere; over TLS with
the certificate in `ssl_dir` (cert.pem and key.pem, e.g. from `serve --make-cert`) when
given. (The answer the app reads, without loading a model.)"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "team-5ecret"


@contextlib.contextmanager
def health_server(token: str = TOKEN, free_slots: int = 2, ssl_dir=None):
    """Yields the server's http:// (https:// with `ssl_dir`) address."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path != "/healthz":
                self.send_error(404)
            elif self.headers.get("Authorization") != f"Bearer {token}":
                self.send_error(401)
            else:
                body = json.dumps({"status": "ok", "free_slots": free_slots}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    if ssl_dir is not None:
        from arcus_desktop.server.tls import context

        server.socket = context(ssl_dir).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if ssl_dir is not None else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
