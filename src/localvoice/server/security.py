"""Who may talk to the server: loopback by default, a token for anything else, and no foreign pages.

- A bind to any address other than loopback needs a token (``check_bind``): the models would
  otherwise be open to the whole network.
- The token is compared in constant time. HTTP clients send it as ``Authorization: Bearer <T>``; a
  browser's WebSocket cannot set headers, so a socket may also offer it as the subprotocol
  ``token.<T>`` or as ``?token=<T>``.
- Without a token (loopback) the ``Host`` header must name this machine: a page on another site that
  re-points its DNS name to 127.0.0.1 (DNS rebinding) would otherwise read our replies.
- A request that carries an ``Origin`` (only browsers send one) must come from the page this server
  serves or from ``server.allowed_origins``, so other sites' scripts cannot use the models.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request, WebSocket
from starlette.requests import HTTPConnection

from localvoice.errors import BadInputError
from localvoice.server.errors import forbidden, unauthorized

if TYPE_CHECKING:
    from localvoice.server.state import ServerState

TOKEN_SUBPROTOCOL_PREFIX = "token."
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the name localhost."""
    name = host.strip().strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token (the CLI prints this on one line, exit 2)."""
    if not is_loopback(host) and not token:
        raise BadInputError(
            f"serving on {host} opens the models to the network: give a token with --token T "
            "(or server.token), or bind to 127.0.0.1"
        )


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_token(connection: HTTPConnection) -> str | None:
    scheme, _, value = connection.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def subprotocol_token(websocket: WebSocket) -> str | None:
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return str(offered[len(TOKEN_SUBPROTOCOL_PREFIX) :])
    return None


def host_allowed(connection: HTTPConnection, state: ServerState) -> bool:
    """With a token anything may be in Host (a LAN name or address); without one it must be local."""
    if state.token:
        return True
    host = connection.headers.get("host", "")
    name = urlsplit(f"//{host}").hostname or ""
    return is_loopback(name)


def origin_allowed(connection: HTTPConnection, state: ServerState) -> bool:
    """No Origin (not a browser), this server's own page, or one of ``server.allowed_origins``."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in (allowed.rstrip("/") for allowed in state.allowed_origins):
        return True
    return urlsplit(origin).netloc.lower() == connection.headers.get("host", "").lower()


async def check_token_http(request: Request) -> None:
    """A route dependency: the Host, the Origin and, when the server has one, the Bearer token."""
    state: ServerState = request.app.state.localvoice
    if not host_allowed(request, state):
        raise forbidden("this server answers only to localhost without a token")
    if not origin_allowed(request, state):
        raise forbidden(f"pages from {request.headers.get('origin')} may not use this server")
    if state.token and not token_matches(bearer_token(request), state.token):
        given = request.headers.get("authorization")
        raise unauthorized(
            "a wrong token was given"
            if given
            else "this server needs a token: send Authorization: Bearer <token>"
        )


def check_websocket(websocket: WebSocket, state: ServerState) -> bool:
    """Whether a socket may be accepted: Host, Origin, and the token (header, subprotocol or query)."""
    if not host_allowed(websocket, state) or not origin_allowed(websocket, state):
        return False
    if not state.token:
        return True
    offered = bearer_token(websocket) or subprotocol_token(websocket) or websocket.query_params.get("token")
    return token_matches(offered, state.token)


def accepted_subprotocol(websocket: WebSocket) -> str | None:
    """The token subprotocol to echo on accept: a browser drops a socket whose offer is not answered."""
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return str(offered)
    return None
