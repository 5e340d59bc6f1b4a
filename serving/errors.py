"""Errors the API answers with: a status, a stable machine-readable code and a sentence for
people, always as `{"error": {"code": ..., "message": ...}}`, also for the refusals that
Starlette and FastAPI make themselves (no such route, a parameter that does not validate)."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from cer.serving.schemas import ErrorBody, ErrorDetail

# A refusal's message quotes at most this much of what it refuses: a client's input is not
# worth echoing in full (FastAPI's own answers would repeat up to 10,000 characters of it).
MAX_MESSAGE_CHARS = 300


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no job {job_id}")


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)  # registered for ApiError only
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    """Starlette's refusals (404 no such route, 405 wrong method, ...): the code is the
    status's name, `not_found`, `method_not_allowed`."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    if exc.status_code in (204, 304):  # answers without a body
        return Response(status_code=exc.status_code, headers=exc.headers)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else phrase.lower()
    return error_response(exc.status_code, code, message, exc.headers)


async def validation_error_handler(_request: Request, exc: Exception) -> Response:
    """A path or query parameter that does not validate: where and why, without the input."""
    assert isinstance(exc, RequestValidationError)  # registered for RequestValidationError only
    problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
    return error_response(422, "invalid_request", problems)


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The OpenAPI `responses` entry for routes that can answer these error statuses."""
    return {status: {"model": ErrorBody} for status in statuses}
