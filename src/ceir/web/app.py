"""The application factory: every router, the error pages, metrics and health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ceir import __version__
from ceir.borders import api as borders_api
from ceir.check import api as check_api
from ceir.check import pages as check_pages
from ceir.check.memory import MemoryCheck
from ceir.citizens import abroad_pages as citizen_abroad_pages
from ceir.citizens import device_pages as citizen_device_pages
from ceir.citizens import identity_pages as citizen_identity_pages
from ceir.citizens import pages as citizen_pages
from ceir.config import Settings, get_settings
from ceir.db import get_engine, read_engine, session_factory
from ceir.eir import sync as eir_sync
from ceir.eir import sync_api as eir_sync_api
from ceir.errors import CeirError
from ceir.network import api as network_api
from ceir.partners import api as partners_api
from ceir.partners import declarations_api
from ceir.ratelimit import RateLimited, RateLimiter
from ceir.review import identity_pages as review_identity_pages
from ceir.review import pages as review_pages
from ceir.review import police_pages
from ceir.stats import api as stats_api
from ceir.stats import pages as stats_pages
from ceir.stats.service import CheckTally
from ceir.web.api_docs import add_api_docs
from ceir.web.guards import RequestGuard, body_limits
from ceir.web.metrics import Metrics, MetricsMiddleware, metrics_token_checker
from ceir.web.problems import problem_openapi
from ceir.web.templating import select_language, templates

STATIC_DIR = Path(__file__).parent / "static"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if app.state.check_memory is not None:
        app.state.check_memory.start()  # ready before the first checks, mostly
    yield
    app.state.check_tally.flush(app.state.engine)
    if app.state.check_memory is not None:
        app.state.check_memory.close()  # counts of checks not yet written


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or get_engine(settings.effective_database_url)
    app = FastAPI(
        lifespan=_lifespan,
        title="ceir",
        version=__version__,
        summary="Central Equipment Identity Register of Kazakhstan",
        description="Registry of legally imported mobile devices and the public IMEI check.",
        docs_url=None,  # add_api_docs serves it without a CDN
        redoc_url=None,
    )
    app.openapi = problem_openapi(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.engine = engine
    # The public check and the partners' bulk checks read here: the replica when one is set.
    app.state.read_engine = read_engine(
        get_engine(settings.database_read_url) if settings.database_read_url else engine
    )
    app.state.read_sessions = session_factory(app.state.read_engine)
    app.state.sessions = session_factory(engine)
    app.state.public_limiter = RateLimiter(settings.public_rate_limit_per_minute)
    app.state.metrics = Metrics()
    app.state.metrics.registry.register(eir_sync.CentralCollector(app.state.settings, engine))
    app.state.check_tally = CheckTally()
    app.state.check_memory = (
        MemoryCheck(app.state.read_engine, staleness=settings.check_staleness_seconds)
        if settings.check_from_memory
        else None
    )

    app.add_middleware(check_api.CheckFastPath, owner=app)  # innermost: guarded and counted
    app.add_middleware(RequestGuard, limits=body_limits(settings.citizens.max_document_bytes))
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    add_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(check_api.router)
    app.include_router(check_pages.router)
    app.include_router(network_api.router)
    app.include_router(partners_api.router)
    app.include_router(declarations_api.router)
    app.include_router(borders_api.router)
    app.include_router(eir_sync_api.router)
    app.include_router(citizen_pages.router)
    app.include_router(citizen_device_pages.router)
    app.include_router(citizen_abroad_pages.router)
    app.include_router(citizen_identity_pages.router)
    app.include_router(review_pages.router)
    app.include_router(police_pages.router)
    app.include_router(review_identity_pages.router)
    app.include_router(stats_pages.router)
    app.include_router(stats_api.router)
    _add_operations_routes(app)
    _add_error_handlers(app)
    return app


def _add_operations_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            with app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure means "not healthy", with its reason
            return JSONResponse({"status": "unavailable", "database": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ok", "version": __version__})

    # Not in the OpenAPI document: for the operators' Prometheus, with its own token.
    @app.get(
        "/metrics",
        include_in_schema=False,
        dependencies=[Depends(metrics_token_checker(app.state.settings.metrics_token))],
    )
    def metrics() -> Response:
        return Response(generate_latest(app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def _problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    code: str,
    extra: dict[str, object] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """RFC 9457 problem details for API clients; a translated error page for browsers."""
    if _wants_json(request):
        body: dict[str, object] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            **(extra or {}),
        }
        return JSONResponse(body, status, headers=headers, media_type="application/problem+json")
    lang = select_language(request)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail, "lang": lang},
        status_code=status,
        headers=headers,
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CeirError)
    async def domain_error(request: Request, exc: CeirError) -> Response:
        headers = dict(exc.headers or {})
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return _problem(
            request, exc.status, exc.title, exc.detail, exc.code, exc.extra, headers or None
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        phrase = HTTPStatus(exc.status_code).phrase
        return _problem(
            request,
            exc.status_code,
            phrase,
            str(exc.detail),
            phrase.lower().replace(" ", "_"),
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(DataError)
    async def unstorable_value(request: Request, exc: DataError) -> Response:
        # A value the database cannot hold (a NUL inside JSON text, a number out of range): the
        # client's data, so a 422 with the database's reason, never a 500.
        reason = str(exc.orig).splitlines()[0] if exc.orig else "a value cannot be stored"
        return _problem(request, 422, "Invalid input", reason, "invalid_input")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return _problem(
            request,
            422,
            "Invalid request",
            "The request has invalid fields.",
            "invalid_request",
            {"errors": errors},
        )
