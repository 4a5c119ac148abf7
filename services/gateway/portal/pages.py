"""Rendering portal pages: the layout's context, paging of long lists, notices and error pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from services.gateway.accounts import Principal
from services.gateway.portal.navigation import MENU

Item = TypeVar("Item")
PAGE_SIZE = 50
# Notices a page shows after a form redirected to it (?done=<key>): fixed texts, never echoed input.
NOTICES = {
    "password": "Your password was changed.",
    "signed-out": "You are signed out.",
}


@dataclass(frozen=True)
class Paged(Generic[Item]):
    """One page of a filtered list, with what the pager needs."""

    items: Sequence[Item]
    page: int
    pages: int
    total: int

    def link(self, page: int) -> str:
        """The URL of another page of this list, keeping the other query arguments."""
        arguments = {**request.args.to_dict(), "page": str(page)}
        return f"{request.path}?{urlencode(arguments)}"


def page_number() -> int:
    """The ?page= argument, 1 when absent or not a positive number."""
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def paginate(items: Sequence[Item], size: int = PAGE_SIZE) -> Paged[Item]:
    """The requested page of an already filtered list (lists from SQL should page with paginate_count)."""
    start = page_offset(size)
    return paginate_count(items[start : start + size], len(items), size)


def paginate_count(page_items: Sequence[Item], total: int, size: int = PAGE_SIZE) -> Paged[Item]:
    """A page whose items were fetched with LIMIT/OFFSET (page_offset) out of `total`."""
    pages = max(1, -(-total // size))
    return Paged(page_items, min(page_number(), pages), pages, total)


def page_offset(size: int = PAGE_SIZE) -> int:
    """The OFFSET of the requested page."""
    return (page_number() - 1) * size


def menu(principal: Principal | None) -> list[tuple[str, str]]:
    """The menu entries (label, URL) of the signed-in user's role."""
    if principal is None:
        return []
    entries = MENU.get(principal.role, ())
    return [
        (label, url_for(endpoint)) for label, endpoint in entries if endpoint in current_app.view_functions
    ]


def home_url(principal: Principal) -> str:
    """The first page of the user's menu (their account page when the menu is empty)."""
    entries = menu(principal)
    return entries[0][1] if entries else url_for("portal_account.account")


def render(
    template: str, status: int = 200, notices: Mapping[str, str] | None = None, **context: Any
) -> tuple[str, int]:
    """Render a page inside the layout, with the user, menu and any notice (CSRF: the csrf() macro).

    A notice is picked by the ?done= key from NOTICES or the area's own `notices`, never echoed.
    """
    principal: Principal | None = g.get("principal")
    key = request.args.get("done", "")
    notice = {**NOTICES, **(notices or {})}.get(key, "")
    html = render_template(
        template,
        principal=principal,
        menu=menu(principal),
        notice=notice,
        **context,
    )
    return html, status


def error_page(status: int, message: str) -> Response | tuple[str, int]:
    """A portal error: a signed-out browser goes to the login page, others see the message."""
    if status == 401 and request.method == "GET":
        return redirect(url_for("portal_account.login", next=request.full_path.rstrip("?")))
    return render("error.html", status=status, status_code=status, message=message)


def done(endpoint: str, notice: str = "", **values: Any) -> Response:
    """Redirect after a successful form (post/redirect/get), with a notice key from NOTICES."""
    if notice:
        values["done"] = notice
    return redirect(url_for(endpoint, **values), code=303)
