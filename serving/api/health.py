"""`/healthz`: the process answers. `/readyz`: every worker's pipeline (Ray and the experts)
is loaded and taking jobs, the experts' engine runs, and the data folder's storage works and
has room, so that a job queued now starts, and completes, without waiting for models, for the
engine or for a disk to be put right."""

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
    503: {
        "model": Readiness,
        "description": "still loading, loading failed, the experts' engine failed, or the data folder's storage fails or is full",
    }
}


@router.get("/readyz", response_model=Readiness, responses=NOT_READY)
def readyz(service: ServiceDep) -> JSONResponse:
    pool, failure = service.pool, service.storage_problem()
    storage_error = describe(failure) if failure is not None else pool.storage_failure
    readiness = Readiness(
        ready=pool.ready and storage_error is None and pool.engine_error is None,
        profile=service.profile.name,
        engine=service.profile.execution.engine,
        workers=pool.concurrency,
        workers_loaded=pool.loaded,
        workers_alive=pool.alive,
        experts={name: ExpertState(status=s.status, model_id=s.model_id, reason=s.reason) for name, s in pool.statuses.items()},
        error=pool.error,
        storage_error=storage_error,
        engine_error=pool.engine_error,
        jobs=service.store.counts(),
    )
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ready else 503)
