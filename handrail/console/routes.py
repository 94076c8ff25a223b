"""GET /console (the page) and /console/static/* (its files). No API here: the page calls the JSON API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from handrail.errors import NotFound

STATIC = Path(__file__).parent / "static"
# Everything from Handrail itself: reviewers' networks may block third-party hosts, and an approval page must not
# run anyone else's script. Nothing may frame it (a framed Approve button is a clickjacking target).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=TYPES[".html"], headers=HEADERS)


@router.get("/console/")
async def console_slash() -> RedirectResponse:
    return RedirectResponse("/console", status_code=308)


@router.get("/console/static/{name}")
async def static_file(name: str) -> FileResponse:
    path = STATIC / name
    # One flat folder of known kinds: no "..", no subfolders, nothing but the console's own files.
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix not in TYPES or not path.is_file():
        raise NotFound(f"no console file {name!r}")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)
