"""Portal sign-in: the API token rides in an HttpOnly cookie; every form carries a token bound to it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import g, request
from werkzeug.wrappers import Response

from canopy.errors import Forbidden, Unauthorized
from services.gateway import accounts
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context

SESSION_COOKIE = "canopy_session"
# Before sign-in, forms (the login form itself) are bound to this random, HttpOnly cookie instead.
VISITOR_COOKIE = "canopy_visitor"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_LABEL = b"canopy portal form"
# App pages the gateway serves (views/app_proxy.py); a signed-in browser may open (GET) them.
APP_PAGES = "/apps/"


def session_secret() -> str:
    """The API token of the signed-in portal user, or '' when there is none."""
    return request.cookies.get(SESSION_COOKIE, "")


def authenticate_session() -> Principal:
    """The user whose portal session this request carries; Unauthorized when none or expired."""
    secret = session_secret()
    if not secret:
        raise Unauthorized("sign in to use the portal")
    with gateway_context().backends.store.session() as session:
        return accounts.resolve_token(session, secret)


def is_page_visit() -> bool:
    """True for a browser reading an app page with its portal session (GET or HEAD, no bearer token).

    The page runs sandboxed (app_proxy adds a CSP sandbox), so the app's scripts get an origin of
    their own and cannot read the portal or another app's page with this session.
    """
    return (
        request.path.startswith(APP_PAGES)
        and request.method in {"GET", "HEAD"}
        and not request.headers.get("Authorization")
        and bool(session_secret())
    )


def _csrf_basis() -> str:
    """What forms are bound to: the session token once signed in, the visitor cookie before."""
    basis = session_secret() or request.cookies.get(VISITOR_COOKIE, "")
    if not basis and request.method in SAFE_METHODS:
        basis = g.setdefault("new_visitor", secrets.token_urlsafe(32))
    return basis


def csrf_token() -> str:
    """The token the current page's forms must send back (HMAC of a secret the page cannot read)."""
    basis = _csrf_basis()
    if not basis:
        return ""
    return hmac.new(basis.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def check_csrf() -> None:
    """Refuse a state-changing portal request whose form (or X-CSRF-Token header) lacks the token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    expected = csrf_token()
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the form is missing its security token or it expired; reload the page and retry")


def set_visitor_cookie(response: Response) -> Response:
    """after_request: hand a new visitor the random cookie the forms on their page are bound to."""
    visitor = g.get("new_visitor")
    if visitor:
        _set_cookie(response, VISITOR_COOKIE, visitor, None)
    return response


def open_session(response: Response, token: str, ttl: timedelta) -> None:
    """Sign the browser in with `token` and drop its visitor cookie."""
    _set_cookie(response, SESSION_COOKIE, token, ttl)
    response.delete_cookie(VISITOR_COOKIE, path="/")


def close_session(response: Response) -> None:
    """Forget the session cookie in the browser (the token itself is revoked by the caller)."""
    response.delete_cookie(SESSION_COOKIE, path="/")


def _set_cookie(response: Response, name: str, value: str, ttl: timedelta | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(ttl.total_seconds()) if ttl else None,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
