"""`/healthz`: the process answers. `/readyz`: every worker's pipeline (Ray and the experts)
is loaded and taking jobs, and the data folder's storage works, so that a job queued now
starts without waiting for models or for a disk to be put right."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from cer.serving.api.deps import ServiceDep
from cer.serving.schemas import ExpertState, Health, Readiness
from cer.serving.storage import describe

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    return Health()


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Readiness, "description": "still loading, loading failed, or the data folder's storage fails"}
}


@router.get("/readyz", response_model=Readiness, responses=NOT_READY)
def readyz(service: ServiceDep) -> JSONResponse:
    pool, store_failure = service.pool, service.store.failure
    storage_error = describe(store_failure) if store_failure is not None else pool.storage_failure
    readiness = Readiness(
        ready=pool.ready and storage_error is None,
        profile=service.profile.name,
        engine=service.profile.execution.engine,
        workers=pool.concurrency,
        workers_loaded=pool.loaded,
        workers_alive=pool.alive,
        experts={name: ExpertState(status=s.status, model_id=s.model_id, reason=s.reason) for name, s in pool.statuses.items()},
        error=pool.error,
        storage_error=storage_error,
        jobs=service.store.counts(),
    )
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ready else 503)
