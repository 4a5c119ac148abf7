"""Portal sessions: cookie flags, CSRF on every form, throttled sign-in, sign-out and password change."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient

from canopy.roles import Role
from tests.functional.portal.conftest import PORTAL_PASSWORD, user_name
from tests.portal_forms import PortalBrowser


def test_signed_out_pages_lead_to_the_login_form(client: FlaskClient) -> None:
    assert client.get("/").headers["Location"].endswith("/portal/")
    response = client.get("/portal/account")
    assert response.status_code == 302
    assert "/portal/login?next=/portal/account" in response.headers["Location"]


def test_the_session_cookie_is_httponly_and_samesite(client: FlaskClient, portal_users: dict) -> None:
    browser = PortalBrowser(client)
    response = browser.sign_in(user_name(Role.END_USER), PORTAL_PASSWORD)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if "canopy_session=" in value)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP (an edge site without TLS): a Secure cookie would never return
    page = browser.get("/portal/account")
    assert page.status_code == 200 and user_name(Role.END_USER) in page.get_data(as_text=True)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_cookies_are_secure_under_tls(client: FlaskClient, portal_users: dict) -> None:
    tls = "https://localhost"
    visitor = client.get("/portal/login", base_url=tls).headers.get("Set-Cookie", "")
    assert "canopy_visitor=" in visitor and "Secure" in visitor and "HttpOnly" in visitor
    browser = PortalBrowser(client)
    browser.get("/portal/login", base_url=tls)
    form = {"user": user_name(Role.END_USER), "password": PORTAL_PASSWORD}
    response = browser.post("/portal/login", form, base_url=tls)
    assert response.status_code == 303, response.get_data(as_text=True)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if "canopy_session=" in value)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert browser.get("/portal/account", base_url=tls).status_code == 200


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, portal_users: dict) -> None:
    browser = PortalBrowser(client)
    browser.get("/portal/login")
    form = {"user": user_name(Role.END_USER), "password": PORTAL_PASSWORD}
    assert client.post("/portal/login", data=form).status_code == 403
    assert client.post("/portal/login", data={**form, "csrf_token": "forged"}).status_code == 403
    browser.sign_in(user_name(Role.END_USER), PORTAL_PASSWORD)
    refused = client.post("/portal/logout")
    assert refused.status_code == 403
    assert browser.get("/portal/account").status_code == 200


def test_sign_in_is_throttled_like_the_api(client: FlaskClient, portal_users: dict) -> None:
    browser = PortalBrowser(client)
    for _ in range(10):
        browser.get("/portal/login")
        assert (
            browser.post("/portal/login", {"user": "portal-end-user", "password": "wrong-one"}).status_code
            == 401
        )
    browser.get("/portal/login")
    blocked = browser.post("/portal/login", {"user": "portal-end-user", "password": PORTAL_PASSWORD})
    assert blocked.status_code == 429
    assert "too many failed sign-ins" in blocked.get_data(as_text=True)


def test_sign_out_revokes_the_session(signed_in: Callable[[Role], PortalBrowser]) -> None:
    browser = signed_in(Role.AI_DEVELOPER)
    stolen = browser.client.get_cookie("canopy_session")
    assert stolen is not None
    assert browser.post("/portal/logout").status_code == 303
    replay = browser.client
    replay.set_cookie("canopy_session", stolen.value)
    assert replay.get("/portal/account").status_code == 302


def test_change_password_checks_the_current_one(signed_in: Callable[[Role], PortalBrowser]) -> None:
    browser = signed_in(Role.END_USER)
    wrong = browser.post(
        "/portal/account/password", {"current": "nope", "new": "new-pass-123", "repeat": "new-pass-123"}
    )
    assert wrong.status_code == 400 and "the current password is wrong" in wrong.get_data(as_text=True)
    short = browser.post("/portal/account/password", {"current": PORTAL_PASSWORD, "new": "x", "repeat": "x"})
    assert short.status_code == 400 and "at least 8" in short.get_data(as_text=True)
    other = PortalBrowser(browser.client.application.test_client())
    other.sign_in(user_name(Role.END_USER), PORTAL_PASSWORD)
    form = {"current": PORTAL_PASSWORD, "new": "new-pass-123", "repeat": "new-pass-123"}
    changed = browser.post("/portal/account/password", form)
    assert changed.status_code == 303
    assert browser.get("/portal/account?done=password").status_code == 200
    assert other.get("/portal/account").status_code == 302
