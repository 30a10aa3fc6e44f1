"""The API's Swagger UI page, with its script and style served by ceir itself (works offline)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# fastapi-offline ships Swagger UI's dist files (Apache-2.0) inside its wheel; only those are used.
SWAGGER_DIR = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_PREFIX = "/static/swagger-ui"


def add_api_docs(app: FastAPI, path: str = "/docs") -> None:
    """Serve Swagger UI at `path` from local files; the app must be created with docs_url=None."""
    app.mount(SWAGGER_PREFIX, StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get(path, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon.png",
        )
