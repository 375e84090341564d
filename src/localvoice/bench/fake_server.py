"""A real HTTP server on 127.0.0.1 in a thread, for the protocol-faithful fakes (GPT-SoVITS, OpenAI audio)."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class ThreadedFakeServer:
    """``with Fake() as fake:`` serves ``handler`` (which sees the fake as ``self.fake``) until closed."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, poll_s: float = 0.5) -> None:
        """``port`` 0: an ephemeral one. ``poll_s``: how soon ``close`` is noticed (short keeps test
        teardowns quick)."""
        self.dead = threading.Event()  # set on close or kill: releases handlers waiting on it
        bound = type("Handler", (handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(poll_s,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def kill(self) -> None:
        """Stop listening at once, like a killed process (streams in flight drop)."""
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=self._server.shutdown, daemon=True).start()
            self._server.socket.close()

    def close(self) -> None:
        self.dead.set()
        with contextlib.suppress(OSError):
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
