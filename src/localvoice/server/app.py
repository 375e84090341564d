"""The FastAPI application: the HTTP APIs, the voice WebSocket and the page, around one ``ServerState``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from localvoice import __version__
from localvoice.server.errors import install_error_handlers
from localvoice.server.limits import UploadLimit
from localvoice.server.security import check_token_http
from localvoice.server.state import ServerState
from localvoice.server.voice_socket import add_voice_socket

STATIC_DIR = Path(__file__).with_name("static")

DESCRIPTION = """A fully local voice assistant's server.

* `/` — the voice page; `/ws` — its WebSocket (docs/websocket.md).
* `/v1/*` — OpenAI-compatible speech-to-text, text-to-speech, chat completions and model list.
* `/api/*` — Ollama-compatible chat, generate, tags and version, served by the embedded model.

Every route but the page's files needs `Authorization: Bearer <token>` when the server was started
with a token (always, when it listens beyond loopback). Errors are JSON: OpenAI's shape under `/v1`,
Ollama's under `/api`.
"""


def create_app(state: ServerState, on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The app; its lifespan loads the models once (``state.start()``) and calls ``on_ready`` after."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state.session is None:  # ``localvoice serve`` loads them before listening
            await state.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="localvoice",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The schema is served below behind the token; the interactive docs would load scripts from a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.localvoice = state
    app.add_middleware(UploadLimit, limit_bytes=state.max_upload_bytes)
    install_error_handlers(app)  # its catch-all middleware goes outside the upload limit

    from localvoice.server import ollama_api, openai_api

    app.include_router(openai_api.router)
    app.include_router(ollama_api.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check_token_http)])
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    add_voice_socket(app, state)
    # The page's files need no token: a browser opening the URL cannot send one, and they hold no data.
    # The page reads the token from its URL and offers it on the WebSocket. Mounted last: routes win.
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="page")
    return app
