"""Dependencies injected by type alias: the running service, and the bearer-token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cer.serving.errors import ApiError
from cer.serving.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

# auto_error=False: a missing header is answered by `require_token` in the API's own error
# shape; the scheme still documents bearer auth in the OpenAPI document.
_bearer = HTTPBearer(auto_error=False, description="the server's CER_API_TOKEN, when it has one")


def require_token(service: ServiceDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    given = credentials.credentials if credentials is not None else ""
    if not service.settings.token_matches(given):
        reason = "a wrong token" if given else "no bearer token"
        raise ApiError(401, "unauthorized", f"this server wants Authorization: Bearer <token>; the request had {reason}",
                       headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
