"""The UI's front door: an authenticating reverse proxy (ASGI, served by uvicorn) in front of Dagster's webserver.

Dagster's webserver has no authentication, executes GraphQL mutations sent by GET whatever their `Origin`, and
serves any `Host` (so DNS rebinding lets a foreign page read its answers). `ilms dev` starts `dagster dev` with its
webserver on a private loopback port (random, printed nowhere) and serves the UI through `FrontDoor` in front of
`ReverseProxy`: Dagster's own webserver, unchanged and unpatched, and no system package. `FrontDoor`

- serves only allowed `Host` names (127.0.0.1, localhost, ::1 and configured names): 403 otherwise;
- refuses a state-changing request (anything but GET, HEAD, OPTIONS) and any WebSocket whose `Origin` is present
  and is not the UI's own: 403;
- refuses GraphQL operations other than queries sent by GET (`/graphql?query=mutation ...`): 405;
- requires a login: the per-start token, as `?token=<token>` (GET: answered by a redirect that sets an HttpOnly,
  SameSite=Strict cookie), `Authorization: Bearer <token>`, or that cookie: 401 otherwise.

`python -m ilms_dagster.orchestration.front_door dev <dagster dev options>` runs `dagster dev` (webserver, daemon, code
server) on the private port and the front door on the `-h`/`-p` given. The token and the allowed names come from the
environment (`ILMS_UI_TOKEN`, `ILMS_UI_ALLOWED_HOSTS`, comma separated), never from the command line (which `ps`
shows to every local user), and only the front door keeps them. What the private port leaves open (a local user, or a
page that finds the port): docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

TOKEN_ENV = "ILMS_UI_TOKEN"
HOSTS_ENV = "ILMS_UI_ALLOWED_HOSTS"
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
DEV_SUPERSEDED = "Function `dev_command` is superseded"  # the start of Dagster 1.13's SupersessionWarning
COOKIE_PREFIX = "ilms_ui_"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def host_name(host_header: str) -> str:
    """The name of a `Host` header, without its port, lower case (`[::1]:3000` -> `::1`)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """127.0.0.1, localhost, ::1 and the given names (wildcard addresses such as 0.0.0.0 are not names)."""
    names = {host_name(h) for h in extra if h and h.strip()} - {"0.0.0.0", "::", ""}
    return frozenset(DEFAULT_HOSTS) | names


def graphql_get_is_query_only(query_string: bytes) -> bool:
    """True when a GET's `query` parameter (if any) holds only query operations: no mutation, no subscription,
    nothing unparseable."""
    params = [v for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True) if k == "query"]
    if not params:
        return True
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    for text in params:
        try:
            document = parse(text)
        except GraphQLError:
            return False
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.operation != OperationType.QUERY:
                return False
    return True


class FrontDoor:
    """ASGI middleware in front of an application (Dagster's webserver): Host allow-list, Origin check, no
    mutations by GET, a token login kept in a cookie. See the module's docstring."""

    def __init__(self, app, token: str, hosts: Iterable[str] = (), path_prefix: str = "") -> None:
        if len(token) < 16:
            raise ValueError("the UI token must be at least 16 characters")
        self.app = app
        self.token = token
        self.hosts = allowed_hosts(hosts)
        self.graphql_path = f"{path_prefix}/graphql"
        self.session = hmac.new(token.encode(), b"ilms-ui-session", hashlib.sha256).hexdigest()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        method = scope.get("method", "GET")
        if host_name(host) not in self.hosts:
            await self._refuse(scope, send, 403, "Host not allowed")
            return
        origin = headers.get("origin")
        if origin is not None and (scope["type"] == "websocket" or method not in SAFE_METHODS):
            if origin.lower() not in (f"http://{host.lower()}", f"https://{host.lower()}"):
                await self._refuse(scope, send, 403, "Cross-origin request refused")
                return
        if (
            scope["type"] == "http"
            and method in ("GET", "HEAD")
            and scope["path"].rstrip("/") == self.graphql_path
            and not graphql_get_is_query_only(scope.get("query_string", b""))
        ):
            await self._refuse(scope, send, 405, "GraphQL mutations must be sent by POST")
            return
        cookie_name = self._cookie_name(scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and hmac.compare_digest(given[-1].encode(), self.token.encode()):
            if scope["type"] == "http" and method == "GET":  # log in: the cookie, and the URL without the token
                rest = urlencode([(k, v) for k, v in query if k != "token"])
                location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
                await self._respond(
                    send,
                    303,
                    b"",
                    [
                        (b"location", location.encode()),
                        (
                            b"set-cookie",
                            (
                                f"{cookie_name}={self.session}; Path=/; HttpOnly; SameSite=Strict"
                                + ("; Secure" if scope.get("scheme") in ("https", "wss") else "")
                            ).encode(),
                        ),
                    ],
                )
                return
            await self.app(scope, receive, send)
            return
        authorization = headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() in ("bearer", "token") and hmac.compare_digest(
            credential.strip().encode(), self.token.encode()
        ):
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 (a malformed cookie header is no login)
            cookie = SimpleCookie()
        if cookie_name in cookie and hmac.compare_digest(cookie[cookie_name].value.encode(), self.session.encode()):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, send, 401, "Log in: open the URL with ?token=... that `ilms dev` printed")

    @staticmethod
    def _cookie_name(scope) -> str:  # cookies are not kept apart by port: one name per port
        server = scope.get("server") or ("", "")
        return f"{COOKIE_PREFIX}{server[1] or 'socket'}"

    async def _refuse(self, scope, send, status: int, message: str) -> None:
        if scope["type"] == "websocket":  # closed before accept: the server answers 403
            await send({"type": "websocket.close", "code": 1008, "reason": message})
            return
        extra = [(b"www-authenticate", b'Bearer realm="ilms"')] if status == 401 else []
        await self._respond(send, status, f"{status} {message}\n".encode(), extra)

    @staticmethod
    async def _respond(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _settings_from_environment() -> tuple[str, list[str]]:
    """The token and allowed names, taken out of this process's environment (its children never see them)."""
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        raise SystemExit(f"{TOKEN_ENV} is not set: the front door refuses to serve the UI without a token")
    return token, [h for h in os.environ.pop(HOSTS_ENV, "").split(",") if h.strip()]


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class ReverseProxy:
    """ASGI application that passes every HTTP request and WebSocket to the webserver at `upstream`
    (`http://127.0.0.1:<private port>`), streaming both ways (httpx for HTTP, websockets for the UI's GraphQL
    subscriptions)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.client = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            if self.client is not None:
                await self.client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._websocket(scope, receive, send)

    def _target(self, scope, scheme: str = "http") -> str:
        query = scope.get("query_string", b"").decode("latin-1")
        return (
            f"{scheme}{self.upstream[4:]}{scope.get('raw_path', scope['path'].encode()).decode('latin-1').split('?')[0]}"
            + (f"?{query}" if query else "")
        )

    @staticmethod
    def _headers(scope) -> list[tuple[str, str]]:
        return [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope.get("headers", [])
            if k.decode("latin-1").lower() not in HOP_BY_HOP and not k.lower().startswith(b"sec-websocket")
        ]

    async def _http(self, scope, receive, send) -> None:
        import httpx

        if self.client is None:
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10))

        async def body():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body"):
                    return

        request = self.client.build_request(
            scope["method"], self._target(scope), headers=self._headers(scope), content=body()
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError:
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"502 the Dagster webserver is not answering\n"})
            return
        try:
            headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _websocket(self, scope, receive, send) -> None:
        import asyncio

        import websockets

        await receive()  # websocket.connect
        try:
            upstream = await websockets.connect(
                self._target(scope, "ws"),
                subprotocols=scope.get("subprotocols") or None,
                additional_headers=[(k, v) for k, v in self._headers(scope) if k.lower() != "origin"],
                max_size=None,
            )
        except (OSError, websockets.WebSocketException):
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

        async def to_upstream():
            while (message := await receive())["type"] == "websocket.receive":
                await upstream.send(message["bytes"] if message.get("bytes") is not None else message["text"])
            await upstream.close()

        async def from_upstream():
            try:
                async for data in upstream:
                    await send(
                        {"type": "websocket.send"} | ({"bytes": data} if isinstance(data, bytes) else {"text": data})
                    )
            finally:
                await send({"type": "websocket.close", "code": 1000})

        tasks = [asyncio.ensure_future(to_upstream()), asyncio.ensure_future(from_upstream())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await upstream.close()


def _option(argv: list[str], names: tuple[str, ...], default: str) -> tuple[str, list[str]]:
    """The value of an option (`-p 3000`), and the arguments without it."""
    rest, value, i = [], default, 0
    while i < len(argv):
        if argv[i] in names and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
        else:
            rest.append(argv[i])
            i += 1
    return value, rest


def dev(argv: list[str]) -> None:
    """`dagster dev <argv>` with its webserver on a private loopback port, and the front door on the host and port
    that `argv` names (`-h`, `-p`): the token and the allowed names stay in this process."""
    import subprocess

    import uvicorn

    from ilms_dagster.orchestration.dev_process import free_port

    token, hosts = _settings_from_environment()
    host, argv = _option(argv, ("-h", "--host", "--dagit-host"), "127.0.0.1")
    port, argv = _option(argv, ("-p", "--port", "--dagit-port"), "3000")
    private = free_port()
    dagster = subprocess.Popen(
        [
            sys.executable,
            "-W",
            f"ignore:{DEV_SUPERSEDED}",
            "-m",
            "dagster",
            "dev",
            *argv,
            "-h",
            "127.0.0.1",
            "-p",
            str(private),
        ]
    )
    app = FrontDoor(ReverseProxy(f"http://127.0.0.1:{private}"), token, [host, *hosts])
    try:
        uvicorn.run(app, host=host, port=int(port), log_level="warning", ws="auto", lifespan="on")
    finally:
        if dagster.poll() is None:
            dagster.terminate()
        dagster.wait()


if __name__ == "__main__":
    commands = {"dev": dev}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: python -m ilms_dagster.orchestration.front_door {{{','.join(commands)}}} <options>")
    commands[sys.argv[1]](sys.argv[2:])
