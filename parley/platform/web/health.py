"""Liveness, readiness and Prometheus metrics.

`/healthz` answers while the process runs; `/readyz` answers 200 only when the database
is reachable and migrated to the code's head revision and every service's readiness
check passes (Asterisk's AMI connected, say): a load balancer sends traffic only then.
`/metrics` is for an admin's API token (Prometheus sends it as a bearer).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.routing import Match

from parley.platform.db.migrate import current_revision, head_revision
from parley.platform.web.deps import Admin, Public, RuntimeDep

router = APIRouter(tags=["health"])

HTTP_REQUESTS = Counter(
    "parley_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram("parley_http_request_seconds", "HTTP request latency", ["method", "route"])


@router.get("/healthz", dependencies=[Public])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Public])
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await runtime.database.ping()
        revision = await current_revision(runtime.database)
        checks["database"] = "ok" if revision == head_revision() else "not migrated"
    except Exception as exc:  # any failure means "not ready", reported, never raised
        checks["database"] = f"unreachable: {type(exc).__name__}"
    for name, check in runtime.readiness.items():
        reason = check()
        checks[name] = "ok" if reason is None else reason
    is_ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if is_ready else "not ready", "checks": checks},
        status_code=200 if is_ready else 503,
    )


@router.get("/metrics")
async def metrics(_: Admin) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _route_template(request: Request) -> str:
    # Label by route template, not raw path, so ids don't explode the label set. FastAPI
    # leaves the route it matched in the scope; others (mounts) are matched again.
    matched = request.scope.get("route")
    if matched is not None:
        return str(getattr(matched, "path", "unmatched"))
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


async def record_metrics(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = _route_template(request)
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response
