"""The UI's front door: Dagster's own webserver application wrapped in an ASGI middleware that authenticates.

Dagster's webserver has no authentication, executes GraphQL mutations sent by GET whatever their `Origin`, and
serves any `Host` (so DNS rebinding lets a foreign page read its answers). `FrontDoor` wraps the webserver's ASGI
application (Starlette) in the same process, so the webserver is never reachable except through it; no reverse
proxy, no system package. It

- serves only allowed `Host` names (127.0.0.1, localhost, ::1 and configured names): 403 otherwise;
- refuses a state-changing request (anything but GET, HEAD, OPTIONS) and any WebSocket whose `Origin` is present
  and is not the UI's own: 403;
- refuses GraphQL operations other than queries sent by GET (`/graphql?query=mutation ...`): 405;
- requires a login: the per-start token, as `?token=<token>` (GET: answered by a redirect that sets an HttpOnly,
  SameSite=Strict cookie), `Authorization: Bearer <token>`, or that cookie: 401 otherwise.

`python -m ilms_dagster.orchestration.front_door dev <dagster dev options>` runs `dagster dev` (webserver, daemon, code server)
with its webserver replaced by `python -m ilms_dagster.orchestration.front_door webserver <dagster-webserver options>`: the same
webserver, its application wrapped. The token and the allowed names come from the environment (`ILMS_UI_TOKEN`,
`ILMS_UI_ALLOWED_HOSTS`, comma separated), never from the command line (which `ps` shows to every local user), and
only the webserver keeps them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
import warnings
from collections.abc import Iterable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

TOKEN_ENV = "ILMS_UI_TOKEN"
HOSTS_ENV = "ILMS_UI_ALLOWED_HOSTS"
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
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


def webserver(argv: list[str]) -> None:
    """`dagster-webserver` with its application wrapped in `FrontDoor`."""
    import dagster_webserver.cli as webserver_cli

    token, hosts = _settings_from_environment()
    create_app = webserver_cli.create_app_from_workspace_process_context

    def create_wrapped(context, path_prefix: str = "", *args, **kwargs):
        return FrontDoor(create_app(context, path_prefix, *args, **kwargs), token, hosts, path_prefix)

    webserver_cli.create_app_from_workspace_process_context = create_wrapped
    webserver_cli.cli.main(argv, prog_name="dagster-webserver", auto_envvar_prefix="DAGSTER_WEBSERVER")


def dev(argv: list[str]) -> None:
    """`dagster dev` whose webserver is `webserver` above; the token reaches that process only."""
    import dagster._cli.dev as dagster_dev

    token, hosts = _settings_from_environment()
    open_subprocess = dagster_dev.open_ipc_subprocess
    started = []

    def open_wrapped(parts, **kwargs):
        if any("dagster_webserver" in part for part in parts):
            if parts[1:3] != ["-m", "dagster_webserver"]:  # fail closed: never an unwrapped webserver
                raise RuntimeError(f"unexpected webserver command from dagster dev: {parts[:3]}")
            parts = [parts[0], "-m", "ilms_dagster.orchestration.front_door", "webserver", *parts[3:]]
            kwargs["env"] = (kwargs.get("env") or os.environ) | {TOKEN_ENV: token, HOSTS_ENV: ",".join(hosts)}
            started.append(parts)
        return open_subprocess(parts, **kwargs)

    dagster_dev.open_ipc_subprocess = open_wrapped
    warnings.filterwarnings("ignore", message="Function `dev_command` is superseded")
    dagster_dev.dev_command.main(argv, prog_name="dagster dev")


if __name__ == "__main__":
    commands = {"dev": dev, "webserver": webserver}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: python -m ilms_dagster.orchestration.front_door {{{','.join(commands)}}} <options>")
    commands[sys.argv[1]](sys.argv[2:])
