"""A person signs in to the portal in Chromium, lands on their role's page, and signs out."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.portal.conftest import Portal, sign_in, wait_until


def test_sign_in_and_out_in_a_real_browser(portal: Portal, browser: WebDriver) -> None:
    browser.get(f"{portal.url}/portal/account")
    assert "/portal/login" in browser.current_url
    browser.find_element(By.NAME, "user").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("not-the-password")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    # The answer is a new page: wait for its text, not for the #main the login page already had.
    wait_until(browser, lambda d: "wrong user name or password" in d.find_element(By.ID, "main").text)
    sign_in(browser, portal, "admin", portal.admin_password)
    assert browser.find_element(By.CSS_SELECTOR, ".who .role").text == "platform_admin"
    browser.find_element(By.CSS_SELECTOR, ".who button").click()
    wait_until(browser, lambda driver: "/portal/login" in driver.current_url)
    assert "You are signed out." in browser.find_element(By.ID, "main").text
    browser.get(f"{portal.url}/portal/account")
    assert "/portal/login" in browser.current_url
