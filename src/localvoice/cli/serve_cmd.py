"""``localvoice serve``: the voice page, its WebSocket and the OpenAI / Ollama compatible HTTP APIs.

The models load once, before the server listens (a missing model or server is one line, not a
traceback from inside uvicorn), in the event loop uvicorn then runs in, and every connection shares
them. Ctrl-C stops accepting, lets uvicorn close the connections, closes the models and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from urllib.parse import quote

from localvoice.cli.output import notify_stderr
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import BadInputError, MissingExtraError


def add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the voice page and OpenAI / Ollama compatible APIs over HTTP",
        description="Load the models once and serve them: a voice page to talk to in the browser, "
        "its WebSocket, and the OpenAI-compatible (/v1/audio/transcriptions, /v1/audio/speech, "
        "/v1/chat/completions, /v1/models) and Ollama-compatible (/api/chat, /api/generate, /api/tags) "
        "APIs; see docs/http-api.md. Only this machine can connect unless --host says otherwise, and "
        "then a token is required.",
        epilog=examples(
            "localvoice serve",
            "localvoice serve --port 9000 --set llm.backend=llama_cpp",
            'localvoice serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"',
        ),
    )
    serve.add_argument("--host", default=None, help="address to listen on (default: server.host, 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: server.port, 8765)"
    )
    serve.add_argument(
        "--token",
        default=None,
        metavar="T",
        help="clients must send this (Authorization: Bearer T); required with a non-loopback --host",
    )
    serve.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace, config: Config) -> int:
    """Synchronous on purpose: uvicorn re-raises Ctrl-C after its clean shutdown, caught here."""
    try:
        import uvicorn

        from localvoice.server.app import create_app
        from localvoice.server.protocol import MAX_AUDIO_FRAME_BYTES
        from localvoice.server.security import check_bind
        from localvoice.server.state import ServerState
    except ImportError as error:
        raise MissingExtraError(
            f"localvoice serve needs the serve extra ({error.name} is missing): pip install 'localvoice[serve]'"
        ) from None

    host = args.host or config.server.host
    port = config.server.port if args.port is None else args.port
    if not 0 < port < 65536:
        raise BadInputError(f"--port {port} is not a port number (1-65535)")
    token = args.token if args.token is not None else (config.server.token or None)
    check_bind(host, token)
    _check_port_free(host, port)
    state = ServerState.from_config(config, notify_stderr, token=token)

    async def serve() -> None:
        notify_stderr("loading the models (once, shared by every connection)…")
        await state.start()
        try:
            app = create_app(state)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host=host,
                    port=port,
                    log_level="warning",
                    access_log=False,
                    lifespan="on",
                    # The socket's own limits close bigger frames with 1009; this stops uvicorn from
                    # buffering up to its 16 MiB default before they are seen.
                    ws_max_size=2 * MAX_AUDIO_FRAME_BYTES,
                )
            )
            _print_urls(host, port, state.token)
            await server.serve()
        finally:
            await state.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    print("localvoice: server stopped", file=sys.stderr)
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Fail in one line before minutes of model loading when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise BadInputError(
                f"cannot listen on {host}:{port} ({error.strerror or error}); pick another with --port or --host"
            ) from None


def _print_urls(host: str, port: int, token: str | None) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    query = f"?token={quote(token, safe='')}" if token else ""
    print(f"localvoice: open http://{shown}:{port}/{query} to talk", flush=True)
    print(
        f"localvoice: APIs at http://{shown}:{port}/v1 (OpenAI) and http://{shown}:{port}/api (Ollama); "
        "Ctrl-C stops",
        flush=True,
    )
    if shown != host:
        print(
            f"localvoice: listening on every address ({host}); from other machines use this one's address",
            flush=True,
        )
