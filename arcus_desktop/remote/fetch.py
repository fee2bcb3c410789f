"""One HTTP request to the team server (the voice upload, "Test connection"), safe
against a server that misbehaves:

- no redirect is followed: urllib would send the token along, even from https to http
  (our server never redirects);
- the whole request ends by a deadline: urllib's timeout is per read, so a server that
  drips a byte at a time would hold it for ever. At the deadline the connection is shut
  down under the reads (from a timer thread), whatever stage it is at;
- the answer read is capped in size."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request


class Redirected(Exception):
    """The server answered with a redirect, which is not followed."""

    def __init__(self, code: int, location: str) -> None:
        super().__init__(f"HTTP {code} to {location}")
        self.code, self.location = code, location[:200]


def fetch(request: urllib.request.Request, timeout: float, deadline: float,
          context=None, limit: int = 65536) -> bytes:
    """The body of the answer to `request`, at most `limit` bytes. `timeout`: for each
    read, as urllib's; `deadline`: seconds for all of it (TimeoutError after). An error
    status raises urllib.error.HTTPError, a redirect Redirected."""
    cut = _Cut(deadline)
    opener = urllib.request.build_opener(
        _NoRedirects(), _Plain(cut), _Secure(cut, context=context))
    try:
        with cut, opener.open(request, timeout=timeout) as response:
            body = response.read(limit)
        if cut.fired:  # the shutdown may end a read early, as a short answer
            raise TimeoutError
        return body
    except Exception:
        if cut.fired:
            raise TimeoutError(f"no whole answer within {deadline:g} s") from None
        raise


class _Cut:
    """Shuts the request's connection down at the deadline: a read blocked on it
    returns at once. Each socket is watched through a duplicate of its own, so the cut
    reaches it whoever holds it by then (a TLS socket, the response)."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Cut:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            if self.fired:
                sock.close()
                raise TimeoutError
            self._socks.append(sock.dup())
        return sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._socks:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # closed meanwhile


def _watched(base: type, cut: _Cut):
    def connection(*args, **kwargs):
        conn = base(*args, **kwargs)
        made = conn._create_connection  # http.client makes the TCP socket with it, before TLS
        conn._create_connection = lambda *a, **k: cut.watch(made(*a, **k))
        return conn
    return connection


class _Plain(urllib.request.HTTPHandler):
    def __init__(self, cut: _Cut) -> None:
        super().__init__()
        self._cut = cut

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self._cut), req)


class _Secure(urllib.request.HTTPSHandler):
    def __init__(self, cut: _Cut, context=None) -> None:
        super().__init__(context=context)
        self._cut = cut

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self._cut), req,
                            context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()
        raise Redirected(code, newurl)
