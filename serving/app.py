"""The application factory. Nothing is built at import time: `create_app` makes the app, and
its lifespan opens the service (job store, recovery, workers) when the server starts, unless
it is given one opened already (`cer serve` opens it first, to report a data folder it cannot
use in one line rather than through the server's start-up)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from cer.serving.api import health, jobs, live, page
from cer.serving.errors import ApiError, api_error_handler, error_response, http_error_handler, validation_error_handler
from cer.serving.ranged_file import RangedStaticFiles
from cer.serving.request_guard import RequestGuard
from cer.serving.service import Service
from cer.serving.settings import Settings
from cer.serving.storage import is_storage_failure, storage_error

log = logging.getLogger("cer.serving")

DESCRIPTION = """Compound expression recognition in videos. Upload a video to `POST /v1/jobs`,
follow `GET /v1/jobs/{id}`, then fetch the result files. When the server has a token
(CER_API_TOKEN), every /v1 route wants `Authorization: Bearer <token>`. Every error is
`{"error": {"code": ..., "message": ...}}`."""


async def _store_error_handler(request: Request, exc: Exception) -> Response:
    """The job store failed under a route (reads fail too on a failing disk): 503/507, not a 500."""
    if not is_storage_failure(exc):
        raise exc  # a bug: on to the 500 below, and to the log
    log.warning("cer serve: %s %s: the job store failed: %s", request.method, request.url.path, exc)
    return await api_error_handler(request, storage_error(exc))


async def _disconnect_handler(request: Request, _exc: Exception) -> Response:
    """A client that went away mid-request (a closed tab, a dropped connection) is no fault of
    the server's: one line in the log, not a traceback. Nobody reads the answer."""
    log.info("cer serve: %s %s: the client disconnected before the request ended", request.method, request.url.path)
    return Response(status_code=400)


async def _internal_error_handler(_request: Request, _exc: Exception) -> Response:
    # the details stay in the server's log (Starlette logs the traceback after this answer)
    return error_response(500, "internal_error", "the server failed on this request; its log has the details")


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The app; `settings` default to the CER_* environment variables. A `service` given is
    used instead of one opened at start-up, and is closed when the server stops."""
    settings = settings or Settings.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # On the event loop's (main) thread although they block, briefly: see Service.open.
        # Nothing is served yet while opening, nor any longer while closing.
        app.state.service = service or Service.open(settings)
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(title="cer", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(RequestGuard, settings=settings)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(sqlite3.Error, _store_error_handler)
    app.add_exception_handler(ClientDisconnect, _disconnect_handler)
    app.add_exception_handler(Exception, _internal_error_handler)
    for router in (health.router, jobs.router, live.router, page.router):
        app.include_router(router)
    app.mount("/static", RangedStaticFiles(directory=page.STATIC_DIR), name="static")
    return app
