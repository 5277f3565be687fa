"""/docs and /redoc from vendored files: they work offline and under the CSP (no CDN,
no inline script, no web fonts)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.pages import templates

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Interactive API documentation (Swagger UI)."""
    return templates.TemplateResponse(request, "docs.html", {"openapi_url": request.app.openapi_url})


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """Readable API documentation (ReDoc)."""
    return templates.TemplateResponse(request, "redoc.html", {"openapi_url": request.app.openapi_url})
