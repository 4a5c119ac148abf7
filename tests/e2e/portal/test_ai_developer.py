"""An AI developer in Chromium: upload the iris model (a bad zip first), deploy it, try it, see charts."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions

from tests.deploy_helpers import IRIS_INPUT, IRIS_PACKAGE, zip_package
from tests.e2e.portal.conftest import Portal, screenshot, sign_in, text_of, wait_until

DEPLOY_SECONDS = 600
# Drops a file on the upload form's zone as a person dragging it from their desktop does.
DROP = """
const [zone, name, encoded] = arguments;
const bytes = Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type: "application/zip"}));
for (const type of ["dragenter", "dragover", "drop"]) {
  zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
}
"""
# Records, for each upload the page sends, its upload progress events and the progress bar once the
# answer came (in sessionStorage: a good upload's answer leads to another page).
PROGRESS_PROBE = """
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  const bar = document.querySelector("form[data-progress] progress");
  const events = [];
  this.upload.addEventListener("progress", (event) => events.push([event.loaded, event.total]));
  this.addEventListener("load", () => {
    const bars = JSON.parse(sessionStorage.getItem("uploads") || "[]");
    bars.push({events: events, value: bar && bar.value, max: bar && bar.max, hidden: bar && bar.hidden});
    sessionStorage.setItem("uploads", JSON.stringify(bars));
  });
  return send.call(this, body);
};
"""


def choose_file(browser: WebDriver, path: Path) -> None:
    """Pick a file in the upload form's file input and submit the form (portal.js uploads it)."""
    browser.find_element(By.CSS_SELECTOR, "input[type=file][name=file]").send_keys(str(path))
    browser.find_element(By.CSS_SELECTOR, "form[data-progress] button[type=submit]").click()


def drop_file(browser: WebDriver, name: str, data: bytes) -> None:
    """Drop a file on the upload form's zone, watch the upload's progress, and submit the form."""
    zone = browser.find_element(By.CSS_SELECTOR, "form[data-progress] [data-dropzone]")
    browser.execute_script(DROP, zone, name, base64.b64encode(data).decode())
    assert browser.find_element(By.CSS_SELECTOR, "[data-file-name]").text == name
    chosen = browser.execute_script("return document.querySelector('input[type=file]').files[0].name")
    assert chosen == name
    browser.execute_script(PROGRESS_PROBE)
    browser.find_element(By.CSS_SELECTOR, "form[data-progress] button[type=submit]").click()


def uploads_seen(browser: WebDriver) -> list[dict[str, Any]]:
    """What PROGRESS_PROBE recorded of each upload so far."""
    seen: list[dict[str, Any]] = json.loads(browser.execute_script("return sessionStorage.uploads || '[]'"))
    return seen


def deployment_status(driver: WebDriver) -> str:
    """The deployment state the page shows now ('' while the live block is being swapped)."""
    try:
        return str(driver.find_element(By.ID, "deployment-status").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def test_an_ai_developer_uploads_deploys_and_tries_a_model(
    portal: Portal, browser: WebDriver, tmp_path: Path
) -> None:
    portal.create_user("ada", "ai_developer", "ada-password-1")
    sign_in(browser, portal, "ada", "ada-password-1")
    assert browser.current_url.endswith("/portal/models")
    assert "You have no models yet" in browser.find_element(By.ID, "main").text
    browser.find_element(By.LINK_TEXT, "Upload a model").click()

    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"this is not a zip archive")
    choose_file(browser, bad)
    error = wait_until(browser, lambda driver: driver.find_element(By.ID, "file-error"))
    assert "not a valid zip" in error.text
    assert browser.current_url.endswith("/portal/models/upload")

    good = tmp_path / "iris.zip"
    good.write_bytes(zip_package(IRIS_PACKAGE))
    choose_file(browser, good)
    wait_until(browser, lambda driver: "done=uploaded" in driver.current_url)
    assert "The model is uploaded" in browser.find_element(By.ID, "main").text
    assert text_of(browser, "#deployment-status") == "not deployed"

    replicas = browser.find_element(By.CSS_SELECTOR, "#deploy-form input[name=replicas]")
    replicas.clear()
    replicas.send_keys("1")
    browser.find_element(By.CSS_SELECTOR, "#deploy-form button[type=submit]").click()
    wait_until(browser, lambda driver: "done=deploy" in driver.current_url)
    # The progress block re-reads itself every 2 s (data-refresh): no reload needed.
    wait_until(browser, lambda driver: deployment_status(driver) in ("ready", "failed"), DEPLOY_SECONDS)
    assert text_of(browser, "#deployment-status") == "ready", text_of(browser, "#deployment")
    wait_until(browser, lambda driver: "1/1" in driver.find_element(By.ID, "deployment").text)

    for field, value in IRIS_INPUT.items():
        control = browser.find_element(By.ID, f"input-{field}")
        control.clear()
        control.send_keys(str(value))
    browser.find_element(By.CSS_SELECTOR, "#try-form button[type=submit]").click()
    answered = "#prediction, #try-error, .field-error"
    wait_until(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, answered))
    shown = browser.find_element(By.ID, "main").text
    assert '"species": "setosa"' in browser.find_element(By.ID, "prediction").text, shown

    def charted(driver: WebDriver) -> bool:
        charts = [driver.find_element(By.ID, chart) for chart in ("throughput-chart", "latency-chart")]
        return all(int(chart.get_attribute("data-points") or "0") >= 2 for chart in charts)

    wait_until(browser, charted, 30)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1366, int(height) + 120)  # the whole page: details, progress, try-it, charts
    screenshot(browser, "ai_developer")
    browser.set_window_size(1366, 900)

    # The browser itself keeps numbers inside the schema's range (min/max); a missing one is the model's call.
    assert browser.find_element(By.ID, "input-petal_width").get_attribute("max") == "20.0"
    browser.find_element(By.ID, "input-petal_width").clear()
    browser.find_element(By.CSS_SELECTOR, "#try-form button[type=submit]").click()
    problem = wait_until(browser, lambda driver: driver.find_element(By.ID, "petal_width-error"))
    assert "is required" in problem.text
    assert browser.find_element(By.ID, "input-sepal_length").get_attribute("value") == "5.1"

    browser.find_element(By.CSS_SELECTOR, "#undeploy-form button").click()
    wait_until(browser, expected_conditions.alert_is_present()).accept()
    wait_until(browser, lambda driver: "done=undeploy" in driver.current_url)
    wait_until(browser, lambda driver: deployment_status(driver) == "stopped", 120)
    browser.find_element(By.LINK_TEXT, "All your models").click()
    row = text_of(browser, "#models tbody tr")
    assert "iris" in row and "stopped" in row


def test_a_model_dropped_on_the_form_uploads_with_a_progress_bar(portal: Portal, browser: WebDriver) -> None:
    portal.create_user("drew", "ai_developer", "drew-password-1")
    sign_in(browser, portal, "drew", "drew-password-1")
    browser.get(f"{portal.url}/portal/models/upload")

    bad = b"this is not a zip archive either"
    drop_file(browser, "dropped.zip", bad)
    error = wait_until(browser, lambda driver: driver.find_element(By.ID, "file-error"))
    assert "not a valid zip" in error.text and browser.current_url.endswith("/portal/models/upload")
    [refused] = uploads_seen(browser)
    assert refused["value"] == refused["max"] == 1 and refused["hidden"] is False, refused
    assert refused["events"] and refused["events"][-1][0] == refused["events"][-1][1] > len(bad), refused

    drop_file(browser, "iris.zip", zip_package(IRIS_PACKAGE))  # the form swapped in is enhanced again
    wait_until(browser, lambda driver: "done=uploaded" in driver.current_url)
    assert "The model is uploaded" in browser.find_element(By.ID, "main").text
    assert "iris" in browser.find_element(By.CSS_SELECTOR, "main h1").text
    accepted = uploads_seen(browser)[-1]
    assert accepted["value"] == accepted["max"] == 1 and accepted["events"][-1][0] > 1000, accepted


def test_without_javascript_uploads_and_errors_still_work(
    portal: Portal, browser_without_js: WebDriver, tmp_path: Path
) -> None:
    browser = browser_without_js
    portal.create_user("ben", "ai_developer", "ben-password-1")
    sign_in(browser, portal, "ben", "ben-password-1")
    browser.get(f"{portal.url}/portal/models/upload")
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"not a zip either")
    choose_file(browser, bad)  # a plain form post: the page comes back with the problem by the field
    error = wait_until(browser, lambda driver: driver.find_element(By.ID, "file-error"))
    assert "not a valid zip" in error.text

    good = tmp_path / "iris.zip"
    good.write_bytes(zip_package(IRIS_PACKAGE))
    choose_file(browser, good)
    wait_until(browser, lambda driver: "done=uploaded" in driver.current_url)
    browser.find_element(By.CSS_SELECTOR, "#try-form button[type=submit]").click()
    refused = wait_until(browser, lambda driver: driver.find_element(By.ID, "try-error"))
    assert "has no ready replica" in refused.text
    assert "No ready replica reports figures yet." in browser.find_element(By.ID, "figures").text
