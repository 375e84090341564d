"""A real ``localvoice serve`` app on a free loopback port, run by uvicorn in a thread, for tests.

``running_server(config)`` loads the configured models once (the app's lifespan), waits until uvicorn
listens, yields the base URL and the live ``ServerState``, and shuts down cleanly afterwards. Use it
from a module-scoped fixture so the models load once per test module.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from localvoice.config import Config
from localvoice.server.app import create_app
from localvoice.server.state import ServerState

START_TIMEOUT_S = 600.0  # the first load may assemble packaged models


@dataclass(frozen=True)
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    state: ServerState
    token: str | None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_config(log_dir: Path, *, llm_backend: str = "llama_cpp") -> Config:
    """The embedded models, short replies, no user persona, transcript logs under ``log_dir``."""
    config = Config()
    config.llm.backend = llm_backend
    config.llm.persona = "none"
    config.llm.num_ctx = 2048
    config.llm.num_predict = 48
    config.tts.backend = "packaged"
    config.log.dir = str(log_dir)
    return config


@contextmanager
def running_server(
    config: Config, *, token: str | None = None, notices: list[str] | None = None, models: bool = True
) -> Iterator[RunningServer]:
    """``models=False`` loads none (every model route answers 503): for fast tests of the plumbing."""
    kept = notices if notices is not None else []
    state = ServerState.from_config(config, kept.append, token=token)
    state.need_asr = state.need_llm = state.need_tts = models
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the test server did not start (notices: {kept})")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the test server did not start within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.05)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", port, state, state.token)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
