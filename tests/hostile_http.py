"""A team server that misbehaves over plain HTTP, on loopback, for the client's own
requests (the voice upload, "Test connection"): it answers every request with the same
raw bytes (a redirect, JSON nested too deep, ...), at once or dripped a byte at a time,
and records the headers of each request it was sent."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def answering(answer: bytes, drip_s: float = 0.0):
    """Yields (its http:// address, the list of the requests' headers it got)."""
    requests: list[dict] = []
    stop = threading.Event()

    class Raw(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requests.append(dict(self.headers))
            step = 1 if drip_s else max(1, len(answer))
            try:
                for i in range(0, len(answer), step):
                    if drip_s and stop.wait(drip_s):  # a byte now and then, until the end
                        return
                    self.wfile.write(answer[i:i + step])
            except OSError:
                pass  # the client gave up

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Raw)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


def redirect(to: str) -> bytes:
    return (f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n").encode()


def ok(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body)) + body


# Headers that never end: a byte at a time, each read well within urllib's timeout.
ENDLESS = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
