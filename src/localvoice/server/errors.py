"""HTTP errors as JSON in each API family's own shape, and no stack trace ever reaches a client.

``/v1/*`` answers like OpenAI (``{"error": {"message", "type", "param", "code"}}``), ``/api/*`` like
Ollama (``{"error": "..."}``). Anything unexpected is logged here with its traceback and the client
gets a 500 with one sentence.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localvoice.errors import (
    BackendError,
    BackendUnavailableError,
    BadInputError,
    LocalVoiceError,
    ModelNotFoundError,
)

log = logging.getLogger("localvoice.server")

# OpenAI's error ``type`` for each status.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error with its HTTP status; ``code`` is a short machine-readable name."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, "invalid_request", param)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "invalid_token")


def forbidden(message: str) -> ApiError:
    return ApiError(403, message, "forbidden_origin")


def too_large(limit_mb: int) -> ApiError:
    return ApiError(413, f"the upload is larger than the server's limit of {limit_mb} MB", "too_large")


def unsupported_media(message: str) -> ApiError:
    return ApiError(415, message, "unsupported_media_type")


def busy(message: str) -> ApiError:
    return ApiError(429, message, "server_busy")


def not_loaded(what: str) -> ApiError:
    return ApiError(503, f"the {what} model is not loaded on this server", "model_not_loaded")


def from_localvoice(error: LocalVoiceError) -> ApiError:
    """A backend's own error (it already says what to do) with the status that fits its kind."""
    if isinstance(error, BadInputError):
        return ApiError(400, str(error), "invalid_request")
    if isinstance(error, ModelNotFoundError):
        return ApiError(404, str(error), "model_not_found")
    if isinstance(error, BackendUnavailableError):
        return ApiError(503, str(error), "backend_unavailable")
    if isinstance(error, BackendError):
        return ApiError(502, str(error), "backend_error")
    return ApiError(500, str(error), "server_error")


def error_body(path: str, error: ApiError) -> dict[str, Any]:
    """The body for ``error`` in the shape the route's API family uses."""
    if path.startswith("/api/"):
        return {"error": error.message}
    kind = _OPENAI_TYPES.get(error.status, "server_error" if error.status >= 500 else "invalid_request_error")
    return {"error": {"message": error.message, "type": kind, "param": error.param, "code": error.code}}


def error_response(request: Request, error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error_body(request.url.path, error), status_code=error.status, headers=headers)


async def require_json(request: Request) -> None:
    """A route dependency for JSON bodies: any other declared type is a 415, not a parse error."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise unsupported_media(f"send the request body as application/json, not {kind or 'no type'}")


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(request, error)

    async def on_localvoice_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, LocalVoiceError)
        return error_response(request, from_localvoice(error))

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(request, bad_request(validation_message(error)))

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        message = str(error.detail) if error.detail else "error"
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(request, ApiError(error.status_code, message, code))

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(
            request,
            ApiError(500, "the server failed on this request; its log has the details", "server_error"),
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(LocalVoiceError, on_localvoice_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Not ``add_exception_handler(Exception, ...)``: Starlette re-raises after such a handler, and
    # uvicorn then drops the kept-alive connection the client is about to reuse.
    app.add_middleware(CatchAll)


class CatchAll:
    """Pure ASGI middleware: a bug is logged here with its traceback; the client gets one sentence."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            log.error("%s %s failed", scope.get("method"), scope.get("path"), exc_info=error)
            if started:  # the status line is gone: all we can do is end the response
                return
            body = error_body(
                scope.get("path", ""),
                ApiError(500, "the server failed on this request; its log has the details", "server_error"),
            )
            await JSONResponse(body, status_code=500)(scope, receive, send)


def validation_message(error: RequestValidationError) -> str:
    """Pydantic's first complaint as one sentence: ``messages.0.role: Input should be ...``."""
    problems = error.errors()
    if not problems:
        return "the request is malformed"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    if not where and first.get("type") in ("model_attributes_type", "dict_type"):
        return "the request body must be a JSON object"
    message = str(first.get("msg", "is invalid"))
    return f"{where}: {message}" if where else message
