"""With JavaScript off, the portal still works: sign in, every role's pages, forms (PRG), sign out, CSRF."""

from __future__ import annotations

import re

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.portal.conftest import Portal, page_replaced, sign_in, wait_until

PASSWORD = "first-password-1"
NEW_PASSWORD = "second-password-2"
ROLES = ("ai_developer", "app_developer", "platform_admin", "end_user")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ERROR_TITLES = ("Something went wrong", "Not allowed", "Not found")


def main_text(browser: WebDriver) -> str:
    """The text of the page's <main>."""
    return str(browser.find_element(By.ID, "main").text)


def assert_page(browser: WebDriver) -> None:
    """The current page rendered (no error page) without running any script."""
    heading = browser.find_element(By.CSS_SELECTOR, "main h1").text
    assert heading and heading not in ERROR_TITLES, (browser.current_url, main_text(browser))
    assert "js" not in (browser.find_element(By.TAG_NAME, "html").get_attribute("class") or "")


def submit(browser: WebDriver, form: str, **fields: str) -> None:
    """Fill a form's fields, submit it with its button as a person does, and wait for the next page."""
    for name, value in fields.items():
        element = browser.find_element(By.CSS_SELECTOR, f"{form} [name={name}]")
        element.clear()
        element.send_keys(value)
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    wait_until(browser, page_replaced(page))


def test_every_role_uses_its_pages_without_javascript(portal: Portal, browser_without_js: WebDriver) -> None:
    browser = browser_without_js
    for role in ROLES:
        user = f"nojs-{role.replace('_', '-')}"
        portal.create_user(user, role, PASSWORD)
        sign_in(browser, portal, user, PASSWORD)
        assert_page(browser)
        assert browser.find_element(By.CSS_SELECTOR, ".who .role").text == role
        links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "nav a")]
        for link in links:
            browser.get(str(link))
            assert_page(browser)
        browser.find_element(By.CSS_SELECTOR, ".who button").click()
        wait_until(browser, lambda driver: "/portal/login" in driver.current_url)
        assert "You are signed out." in main_text(browser)


def test_password_form_and_sign_out_work_by_plain_form_posts(
    portal: Portal, browser_without_js: WebDriver
) -> None:
    browser = browser_without_js
    portal.create_user("nojs-password", "end_user", PASSWORD)
    sign_in(browser, portal, "nojs-password", PASSWORD)
    browser.get(f"{portal.url}/portal/account")
    form = "main form#password"
    submit(browser, form, current=PASSWORD, new=NEW_PASSWORD, repeat="something-else-3")
    assert "the two new passwords differ" in main_text(browser)
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "Your account"

    submit(browser, form, current=PASSWORD, new=NEW_PASSWORD, repeat=NEW_PASSWORD)
    wait_until(browser, lambda driver: "done=password" in driver.current_url)
    assert "Your password was changed." in main_text(browser)
    browser.refresh()  # PRG: reloading the result page does not post the form again
    assert "Your password was changed." in main_text(browser) and "done=password" in browser.current_url

    browser.find_element(By.CSS_SELECTOR, ".who button").click()
    wait_until(browser, lambda driver: "/portal/login" in driver.current_url)
    browser.get(f"{portal.url}/portal/account")
    assert "/portal/login" in browser.current_url
    sign_in(browser, portal, "nojs-password", NEW_PASSWORD)
    assert browser.find_element(By.CSS_SELECTOR, ".who .role").text == "end_user"


def test_a_form_post_without_its_token_is_refused(portal: Portal, browser_without_js: WebDriver) -> None:
    browser = browser_without_js
    portal.create_user("nojs-csrf", "end_user", PASSWORD)
    sign_in(browser, portal, "nojs-csrf", PASSWORD)
    browser.get(f"{portal.url}/portal/account")
    cookie = browser.get_cookie("canopy_session")
    assert cookie is not None and cookie.get("httpOnly") is True
    forged = requests.Session()
    forged.cookies.set("canopy_session", cookie["value"], domain="127.0.0.1", path="/")
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    url = f"{portal.url}/portal/account/password"
    refused = forged.post(url, data=form, allow_redirects=False, timeout=10)
    assert refused.status_code == 403 and "security token" in refused.text
    refused = forged.post(url, data={**form, "csrf_token": "0" * 64}, allow_redirects=False, timeout=10)
    assert refused.status_code == 403
    token = CSRF.search(browser.page_source)
    assert token is not None
    accepted = forged.post(
        url, data={**form, "csrf_token": token.group(1)}, allow_redirects=False, timeout=10
    )
    assert accepted.status_code == 303, accepted.text
