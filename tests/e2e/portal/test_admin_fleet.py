"""A platform administrator watches the running platform's node live and adds a user, in Chromium."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from bootstrap.launch import SERVICES
from tests.deploy_helpers import wait_for
from tests.e2e.portal.conftest import Portal, click, screenshot, sign_in, text_of, wait_until


def chart_points(browser: WebDriver) -> int:
    """How many points the node's load chart drew last (0 before its first draw)."""
    return int(browser.find_element(By.ID, "node-load").get_attribute("data-points") or "0")


def test_admin_watches_the_node_and_creates_a_user(portal: Portal, browser: WebDriver) -> None:
    wait_for(lambda: bool(portal.api("GET", "/api/v1/nodes").json()["nodes"]), 60, "the local node's report")
    node_id = portal.api("GET", "/api/v1/nodes").json()["nodes"][0]["node_id"]
    sign_in(browser, portal, "admin", portal.admin_password)

    browser.find_element(By.LINK_TEXT, "Nodes").click()
    # The table re-reads itself every 5 s: each read or click finds its element afresh.
    row = f'#nodes-table tr[data-node="{node_id}"]'
    assert text_of(browser, f"{row} [data-state]") == "ready"
    assert "%" in text_of(browser, row) and "UTC" in text_of(browser, row)
    click(browser, f"{row} a")

    wait_until(browser, lambda d: chart_points(d) >= 1)
    first = chart_points(browser)
    wait_until(browser, lambda d: chart_points(d) > first, 30)  # the agent reports every few seconds
    assert browser.find_elements(By.CSS_SELECTOR, "#node-load canvas"), "uPlot drew no canvas"
    assert "ready" in text_of(browser, "#node-facts")
    screenshot(browser, "platform_admin_nodes")

    browser.find_element(By.LINK_TEXT, "Users").click()
    form = wait_until(browser, lambda d: d.find_element(By.ID, "create-user"))
    form.find_element(By.NAME, "name").send_keys("fleet-carol")
    Select(form.find_element(By.NAME, "role")).select_by_value("app_developer")
    form.find_element(By.NAME, "password").send_keys("carol-password-1")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = wait_until(browser, lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-user="fleet-carol"]'))
    assert "app_developer" in row.text
    assert "The user was created" in browser.find_element(By.ID, "main").text
    users = portal.api("GET", "/api/v1/users").json()["users"]
    assert {"name": "fleet-carol", "role": "app_developer"}.items() <= next(
        user for user in users if user["name"] == "fleet-carol"
    ).items()

    form = browser.find_element(By.ID, "create-user")
    form.find_element(By.NAME, "name").send_keys("fleet-carol")
    form.find_element(By.NAME, "password").send_keys("carol-password-1")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = wait_until(browser, lambda d: d.find_element(By.ID, "name-error"))
    assert "already exists" in error.text

    browser.find_element(By.LINK_TEXT, "Services").click()
    for service in [name for name in SERVICES if name != "demo"]:  # canopy up runs them all in one process
        assert text_of(browser, f'#service-health tr[data-service="{service}"]').endswith("ok")
    assert text_of(browser, f'#service-health tr[data-node="{node_id}"] [data-state]') == "ready"
