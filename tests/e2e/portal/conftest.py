"""Browser tests: `canopy up --demo` on the embedded defaults, driven in Debian's Chromium by Selenium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from bootstrap.infra.packages import ensure_binaries, find_binary
from canopy.workloads.process_runtime import free_port
from tests.deploy_helpers import REPO, canopy_up_demo, share_build_caches, wait_for

ADMIN_PASSWORD = "portal-admin-password-1"
SCREENSHOTS = REPO / "docs" / "screenshots"
# Debian's Chromium and its driver; Playwright's own browser download is not reachable here.
BROWSER_BINARIES = {"chromium": "chromium", "chromedriver": "chromium-driver"}
WAIT_SECONDS = 30


@dataclass
class Portal:
    """A running platform: its base URL, the admin's password, and API calls as any user."""

    url: str
    admin_password: str
    home: Path
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, path: str, user: str = "admin", **kwargs: Any) -> requests.Response:
        """Call the REST API as `user` (signed in once with the password it was created with)."""
        if user not in self._tokens:
            password = self.admin_password if user == "admin" else self.passwords[user]
            login = requests.post(
                f"{self.url}/api/v1/auth/login", json={"user": user, "password": password}, timeout=10
            )
            assert login.status_code == 201, login.text
            self._tokens[user] = login.json()["token"]
        headers = {"Authorization": f"Bearer {self._tokens[user]}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def create_user(self, name: str, role: str, password: str) -> None:
        """Add a user through the API as admin."""
        created = self.api("POST", "/api/v1/users", json={"name": name, "role": role, "password": password})
        assert created.status_code == 201, created.text
        self.passwords[name] = password


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    """`canopy up --demo` in its own CANOPY_HOME on a free port, stopped with SIGTERM at the end."""
    root = tmp_path_factory.mktemp("portal")
    home, log = root / "home", root / "canopy-up.log"
    share_build_caches(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CANOPY_")}
    env.update(
        CANOPY_HOME=str(home),
        CANOPY_API_PORT=str(port),
        CANOPY_API_URL=url,
        CANOPY_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    with canopy_up_demo(env, log) as process:

        def healthy() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                return requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, 120, f"the platform to answer on {url} (log: {log})")
        yield Portal(url, ADMIN_PASSWORD, home, log)


def chromium(javascript: bool, log: Path) -> WebDriver:
    """Headless Chromium from Debian (installed with apt-get when missing), JavaScript on or off."""
    ensure_binaries(BROWSER_BINARIES, log)
    options = Options()
    options.binary_location = str(find_binary("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1366,900"):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    service = Service(executable_path=str(find_binary("chromedriver")))
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh Chromium with JavaScript on."""
    driver = chromium(True, tmp_path / "apt.log")
    yield driver
    driver.quit()


@pytest.fixture()
def browser_without_js(tmp_path: Path) -> Iterator[WebDriver]:
    """A fresh Chromium with JavaScript off."""
    driver = chromium(False, tmp_path / "apt.log")
    yield driver
    driver.quit()


def wait_until(browser: WebDriver, condition: Any, seconds: float = WAIT_SECONDS) -> Any:
    """Wait for a condition on the browser (a callable taking the driver) and return its value.

    A page that is being replaced makes elements go stale mid-check; that counts as "not yet".
    """
    return WebDriverWait(browser, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(
        condition
    )


def text_of(browser: WebDriver, css: str, seconds: float = WAIT_SECONDS) -> str:
    """The (non-empty) text of the element `css` selects, read again if a refreshing block swapped it."""
    text: str = wait_until(browser, lambda driver: driver.find_element(By.CSS_SELECTOR, css).text, seconds)
    return text


def attribute_of(browser: WebDriver, css: str, name: str, seconds: float = WAIT_SECONDS) -> str:
    """The (non-empty) attribute `name` of the element `css` selects, as text_of reads its text."""
    found: str = wait_until(
        browser, lambda driver: driver.find_element(By.CSS_SELECTOR, css).get_attribute(name), seconds
    )
    return found


def click(browser: WebDriver, css: str) -> None:
    """Click the element `css` selects, again if a refreshing block (data-refresh) swapped it first."""
    wait_until(browser, lambda driver: driver.find_element(By.CSS_SELECTOR, css).click() is None)


def page_replaced(element: WebElement) -> Any:
    """A condition that holds once the element's document is gone (the browser loaded the next page).

    Chromium reports an element of a document being torn down either as stale or, mid-teardown, as
    a node that "does not belong to the document"; both mean the old page is gone.
    """

    def replaced(_: WebDriver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" not in (error.msg or ""):
                raise
            return True
        return False

    return replaced


def sign_in(browser: WebDriver, portal: Portal, user: str, password: str) -> None:
    """Type the user name and password into the login page and wait to land on the role's home."""
    browser.get(f"{portal.url}/portal/login")
    browser.find_element(By.NAME, "user").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(browser, lambda driver: "/portal/login" not in driver.current_url)


def screenshot(browser: WebDriver, name: str) -> Path:
    """Save the current page as docs/screenshots/<name>.png (the README shows these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path
