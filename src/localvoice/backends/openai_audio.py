"""What the OpenAI-compatible audio backends share (``asr.backend`` / ``tts.backend`` = ``"openai"``).

Both speak the ecosystem's audio routes (REFERENCE.md §4) to a server of the user's choosing — vLLM,
speaches, another machine's ``localvoice serve`` — through the chat backends' HTTP plumbing
(``http_chat.ChatHttp``: one pool per backend, no environment proxy for loopback, one-line errors).
Error bodies are OpenAI's ``{"error": {"message", …}}`` or the shapes other servers use, read by the
OpenAI chat backend's own reader so both say a server's complaint the same way.
"""

from __future__ import annotations

from localvoice.backends.llm.http_chat import ChatHttp, HttpTimeouts, ServerWords
from localvoice.backends.llm.openai_compat import _error_text
from localvoice.errors import BackendError, ConfigError

CONNECT_TIMEOUT_S = 3.0


def error_text(body: str) -> str | None:
    """The message of an error body (``{"error": {"message"}}``, ``{"detail"}``, …), None if it has none."""
    return _error_text(body)


def server_base(url: str, key: str) -> str:
    """The server's address without a trailing ``/v1``: the routes are written out in full."""
    base = url.strip().rstrip("/").removesuffix("/v1")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{key} must be an http:// or https:// address, got {url!r}")
    return base


def audio_http(section: str, kind: str, url: str, api_key: str, timeout_s: float) -> ChatHttp:
    """The HTTP client for the ``kind`` server ("transcription", "speech") configured in ``section``."""
    if timeout_s <= 0:
        raise ConfigError(f"{section}.timeout_s must be above 0, got {timeout_s:g}")
    base = server_base(url, f"{section}.url")
    words = ServerWords(
        server=f"the {kind} server at {base}",
        not_running=(
            f"no OpenAI-compatible {kind} server answers at {base}; start one (`localvoice serve`, "
            f"vLLM, speaches…) or point {section}.url at where it runs"
        ),
        protocol="the OpenAI audio API",
        check=f"check that {section}.url points at an OpenAI-compatible {kind} server",
    )
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeouts = HttpTimeouts(CONNECT_TIMEOUT_S, timeout_s, first_token_notice_s=0, stall_s=0)
    return ChatHttp(base, words, timeouts, headers)


def check_status(http: ChatHttp, section: str, path: str, status: int, body: str) -> None:
    """An error status as one line that names the config key to change."""
    if status < 400:
        return
    message = error_text(body)
    server = http.words.server
    if status in (401, 403):
        said = f": {message.rstrip('.')}" if message else ""
        raise BackendError(
            f"{server} refused the API key (HTTP {status}){said}; set {section}.api_key or OPENAI_API_KEY"
        )
    if status == 404 and message is None:
        raise BackendError(f"{server} has no {path} (HTTP 404); {http.words.check}")
    http.raise_for_status(status, message, f"set {section}.model to a model it serves")


async def check_server(http: ChatHttp, section: str) -> None:
    """Return when the server answers ``GET /v1/models`` with anything but a refused key; else raise
    ``BackendUnavailableError`` (nothing answers) or ``BackendError`` (the key is refused)."""
    response = await http.get("/v1/models", waited=f"{http.timeouts.read_s:g} s ({section}.timeout_s)")
    if response.status_code in (401, 403):
        check_status(http, section, "/v1/models", response.status_code, response.text)
