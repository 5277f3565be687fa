"""The timeline's vocabulary for the browser, generated from app/palette.py: a JSON
module the scripts import, and the same colours as CSS custom properties."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from app import palette

router = APIRouter(prefix="/ui", tags=["pages"], include_in_schema=False)

# Computed once: the palette is constant for the life of the process.
_MODULE = "export default " + json.dumps(palette.vocabulary(), separators=(",", ":")) + ";\n"
_CSS = palette.stylesheet()
_HEADERS = {"Cache-Control": "no-cache"}  # revalidate: a redeploy may change a colour


@router.get("/vocabulary.js")
async def vocabulary_module() -> Response:
    """States, kinds, colours and words, as a JavaScript module exporting JSON."""
    return Response(_MODULE, media_type="text/javascript", headers=_HEADERS)


@router.get("/vocabulary.css")
async def vocabulary_css() -> Response:
    """The same colours as CSS custom properties."""
    return Response(_CSS, media_type="text/css", headers=_HEADERS)
