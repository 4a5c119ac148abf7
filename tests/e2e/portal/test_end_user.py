"""An end user picks fan-monitor in the catalogue in Chromium, runs it at the plant and opens its page."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from simulators.demo import PLANT
from tests.e2e.portal.apps_world import PASSWORD, RUN_SECONDS, add_buzzer, demo_app
from tests.e2e.portal.conftest import Portal, click, screenshot, sign_in, text_of, wait_until


def test_an_end_user_runs_an_app_from_the_catalogue_and_opens_its_page(
    portal: Portal, browser: WebDriver
) -> None:
    portal.create_user("enduser", "end_user", PASSWORD)
    add_buzzer(portal, "e2e-buzzer-user")
    app = demo_app(portal)
    sign_in(browser, portal, "enduser", PASSWORD)
    assert browser.current_url.endswith("/portal/catalog")
    card = browser.find_element(By.ID, f"app-{app['id']}")
    assert (
        "Predictive maintenance for a turbine fan" in card.text and "Needs: TURBINE_FAN, BUZZER" in card.text
    )
    Select(card.find_element(By.NAME, "location")).select_by_value(PLANT)
    card.find_element(By.CSS_SELECTOR, "form.run button").click()
    wait_until(browser, lambda driver: "/portal/my-apps" in driver.current_url)
    assert "asked to start" in browser.find_element(By.ID, "main").text
    assert PLANT in text_of(browser, "#my-instances")
    # The table re-reads itself every 3 s; the Open link shows once the instance runs.
    opened = "#my-instances a.open"
    wait_until(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, opened), RUN_SECONDS)
    assert "running" in text_of(browser, "#my-instances")
    screenshot(browser, "end_user")

    click(browser, opened)
    wait_until(browser, lambda driver: "/apps/i" in driver.current_url)
    heading = wait_until(browser, lambda driver: driver.find_elements(By.TAG_NAME, "h1"))[0]
    assert heading.text.startswith("fan-monitor:"), browser.page_source[:2000]
