"""A test client that behaves like a browser on the portal: reads each page's CSRF token, posts forms."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


class PortalBrowser:
    """A Flask test client with its own cookies that fills in CSRF tokens like the pages' forms do."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        """GET a page and remember the CSRF token its forms carry."""
        response = self.client.get(path, **kwargs)
        found = CSRF.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """POST a form with the CSRF token of the last page read."""
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def sign_in(self, user: str, password: str) -> TestResponse:
        """Open the login page and sign in; the session cookie stays in this browser."""
        self.get("/portal/login")
        response = self.post("/portal/login", {"user": user, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        self.get("/portal/account")
        return response
