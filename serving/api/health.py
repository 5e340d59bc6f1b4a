"""`/healthz`: the process answers. `/readyz`: every worker's pipeline (Ray and the experts)
is loaded, so that a job queued now starts without waiting for models."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from cer.serving.api.deps import ServiceDep
from cer.serving.schemas import ExpertState, Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "still loading, or loading failed"}})
def readyz(service: ServiceDep) -> JSONResponse:
    pool = service.pool
    readiness = Readiness(
        ready=pool.ready,
        profile=service.profile.name,
        engine=service.profile.execution.engine,
        workers=pool.concurrency,
        workers_loaded=pool.loaded,
        experts={name: ExpertState(status=s.status, model_id=s.model_id, reason=s.reason) for name, s in pool.statuses.items()},
        error=pool.error,
        jobs=service.store.counts(),
    )
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ready else 503)
