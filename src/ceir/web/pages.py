"""What the signed-in areas' pages share: settings, redirects, return addresses and the pager."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

from ceir.config import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def redirect(location: str) -> RedirectResponse:
    """After a form, "see other": the browser GETs the next page, so a reload does not re-post."""
    return RedirectResponse(location, status_code=303)


def safe_next(target: str | None, area: str) -> str | None:
    """`target` when it is a path inside `area` ("/citizen/"); never another site, never a
    scheme-relative URL, so that a return address cannot send anyone away."""
    if target and target.startswith(area) and "//" not in target and "\\" not in target:
        return target
    return None


def to_sign_in(request: Request, sign_in_path: str) -> HTTPException:
    """The answer for a visitor without a session: a page asked for by GET comes back to it."""
    location = sign_in_path
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location += "?" + urlencode({"next": target})
    return HTTPException(303, "Sign in first.", headers={"Location": location})


def pager(path: str, filters: dict[str, Any], page: int, total: int, size: int) -> dict[str, Any]:
    """The page number, the count of pages and the links to the neighbours, filters kept."""
    pages = max(1, -(-total // size))

    def link(number: int) -> str:
        return f"{path}?" + urlencode({**filters, "page": number})

    return {
        "page_number": page,
        "pages": pages,
        "previous_link": link(page - 1) if page > 1 else None,
        "next_link": link(page + 1) if page < pages else None,
    }
