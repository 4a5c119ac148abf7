"""An app developer uploads the fan-monitor example in Chromium, opens it, runs it at the plant, sees it."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from simulators.demo import PLANT
from tests.e2e.portal.apps_world import PASSWORD, RUN_SECONDS, add_buzzer, demo_app, fan_monitor_zip
from tests.e2e.portal.conftest import Portal, attribute_of, screenshot, sign_in, text_of, wait_until


def test_an_app_developer_uploads_runs_and_watches_an_app(
    portal: Portal, browser: WebDriver, tmp_path: Path
) -> None:
    portal.create_user("appdev", "app_developer", PASSWORD)
    add_buzzer(portal, "e2e-buzzer-dev")
    demo_app(portal)  # the demo's model and app are in: the model the upload names exists
    package = fan_monitor_zip(tmp_path)
    sign_in(browser, portal, "appdev", PASSWORD)
    assert browser.current_url.endswith("/portal/apps")
    browser.find_element(By.LINK_TEXT, "Upload an app").click()
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(package))
    assert browser.find_element(By.CSS_SELECTOR, "[data-file-name]").text == "fan-monitor.zip"
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_until(browser, lambda driver: "done=uploaded" in driver.current_url)
    main = browser.find_element(By.ID, "main").text
    assert "The app was uploaded." in main and "fan-monitor" in main
    roles = browser.find_element(By.CSS_SELECTOR, "table.roles").text
    assert "fan TURBINE_FAN sensor no" in roles and "buzzer BUZZER controller yes" in roles
    assert f"Runs at: {PLANT}" in main and "port 8080" in main

    browser.find_element(By.NAME, "location").send_keys(PLANT)
    browser.find_element(By.CSS_SELECTOR, "form.run button").click()
    wait_until(browser, lambda driver: "/portal/instances/i" in driver.current_url)
    assert "asked to start" in browser.find_element(By.ID, "main").text
    bindings = browser.find_element(By.ID, "bindings").text
    assert "buzzer e2e-buzzer-dev BUZZER controller" in bindings and "fan plant-fan-1" in bindings
    # The deployment section re-reads itself every 2 s until the instance runs and its page link shows.
    link = attribute_of(browser, "#deployment #page-link", "href", RUN_SECONDS)
    instance_id = browser.current_url.rsplit("/", 1)[1].split("?")[0]
    assert link == f"{portal.url}/apps/{instance_id}/"
    assert text_of(browser, "#deployment .state") == "running"
    screenshot(browser, "app_developer")

    browser.find_element(By.LINK_TEXT, "Instances").click()
    row = browser.find_element(By.ID, "instances").text
    assert instance_id in row and PLANT in row and "running" in row
