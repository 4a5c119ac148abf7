"""A platform administrator registers a device type and a device in Chromium, then watches its live chart."""

from __future__ import annotations

import json
import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.portal.conftest import Portal, screenshot, sign_in, text_of, wait_until

GREENHOUSE = {
    "name": "GREENHOUSE",
    "kind": "sensor",
    "description": "Greenhouse climate probe",
    "company": "ACME",
    "fields": {
        "temperature": {"type": "float", "unit": "C", "minimum": -40, "maximum": 85},
        "humidity": {"type": "int", "unit": "%", "minimum": 0, "maximum": 100},
    },
}


def _points(browser: WebDriver) -> int:
    """How many points the device page's chart drew last (0 before its first draw)."""
    return int(browser.find_element(By.ID, "readings-chart").get_attribute("data-points") or "0")


def _post(portal: Portal, device_id: str, credential: str, temperature: float, humidity: int) -> None:
    """Send one reading as the device does: its own credential, HTTP POST to the telemetry route."""
    reply = requests.post(
        f"{portal.url}/api/v1/devices/{device_id}/telemetry",
        json={"reading": {"temperature": temperature, "humidity": humidity}},
        headers={"Authorization": f"Bearer {credential}"},
        timeout=10,
    )
    assert reply.status_code == 202, reply.text


def test_an_admin_registers_a_type_and_a_device_and_watches_its_readings(
    portal: Portal, browser: WebDriver
) -> None:
    sign_in(browser, portal, "admin", portal.admin_password)
    browser.find_element(By.LINK_TEXT, "Device types").click()
    definition = browser.find_element(By.NAME, "definition")
    definition.send_keys(json.dumps(GREENHOUSE, indent=1))
    browser.find_element(By.CSS_SELECTOR, "#type-form button[type=submit]").click()
    wait_until(browser, lambda d: "The device type was registered." in d.find_element(By.ID, "main").text)
    assert "GREENHOUSE" in browser.find_element(By.ID, "types").text

    browser.find_element(By.LINK_TEXT, "Devices").click()
    browser.find_element(By.LINK_TEXT, "Register a device").click()
    Select(browser.find_element(By.NAME, "type")).select_by_value("GREENHOUSE")
    browser.find_element(By.NAME, "id").send_keys("greenhouse-1")
    browser.find_element(By.NAME, "location").send_keys("hyd/greenhouse")
    Select(browser.find_element(By.NAME, "transport")).select_by_value("http")
    browser.find_element(By.CSS_SELECTOR, "#device-form button[type=submit]").click()
    credential = wait_until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "code.credential")).text
    assert credential.startswith("cnd_")

    browser.find_element(By.LINK_TEXT, "greenhouse-1").click()
    wait_until(browser, lambda d: d.find_element(By.ID, "readings-chart").get_attribute("data-points") == "0")
    assert "No reading yet." in text_of(browser, "#latest")  # the block re-reads itself every 5 s
    for sent, step in enumerate(range(6), start=1):
        _post(portal, "greenhouse-1", credential, 20.0 + step * 1.5, 40 + step)
        wait_until(browser, lambda d, want=sent: _points(d) >= want)
        time.sleep(0.2)
    assert _points(browser) == 6
    assert browser.find_elements(By.CSS_SELECTOR, "#readings-chart canvas")
    wait_until(browser, lambda d: "27.5" in d.find_element(By.ID, "latest-reading").text)
    assert "45" in text_of(browser, "#latest-reading")
    wait_until(browser, lambda d: "online" in d.find_element(By.ID, "device-status").text)
    screenshot(browser, "platform_admin")

    browser.find_element(By.LINK_TEXT, "Devices").click()
    tree = browser.find_element(By.ID, "device-tree").text
    assert "greenhouse" in tree and "greenhouse-1" in tree and "GREENHOUSE" in tree
