"""The application factory. Nothing is built at import time: `create_app` makes the app, and
its lifespan opens the service (job store, recovery, workers) when the server starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cer.serving.api import health, jobs, page
from cer.serving.errors import ApiError, api_error_handler
from cer.serving.service import Service
from cer.serving.settings import Settings

DESCRIPTION = """Compound expression recognition in videos. Upload a video to `POST /v1/jobs`,
follow `GET /v1/jobs/{id}`, then fetch the result files. When the server has a token
(CER_API_TOKEN), every /v1 route wants `Authorization: Bearer <token>`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `settings` default to the CER_* environment variables."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # On the event loop's (main) thread although they block, briefly: see Service.open.
        # Nothing is served yet while opening, nor any longer while closing.
        service = Service.open(settings)
        app.state.service = service
        try:
            yield
        finally:
            service.close()

    app = FastAPI(title="cer", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.add_exception_handler(ApiError, api_error_handler)
    for router in (health.router, jobs.router, page.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    return app
