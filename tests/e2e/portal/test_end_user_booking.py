"""An end user sets their zone and e-mail, books fan-monitor at the plant, opens it and cancels it."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from simulators.demo import PLANT
from tests.deploy_helpers import wait_for
from tests.e2e.portal.apps_world import PASSWORD, RUN_SECONDS, add_buzzer, demo_app
from tests.e2e.portal.conftest import Portal, attribute_of, click, screenshot, sign_in, text_of, wait_until

USER = "booker"
ADDRESS = "booker@example.org"
ZONE = "Asia/Kolkata"
AHEAD = timedelta(seconds=20)
LENGTH = timedelta(minutes=10)


def _type_into(browser: WebDriver, name: str, value: str) -> None:
    """Fill a date/time input of the book form (Chromium's pickers take no plain typing of seconds)."""
    field = browser.find_element(By.CSS_SELECTOR, f"form#book input[name={name}]")
    browser.execute_script("arguments[0].value = arguments[1];", field, value)


def _mails_to(outbox: Path, address: str) -> list[str]:
    """The text bodies of the mails to `address` written to the outbox so far."""
    found = []
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            body = message.get_body(("plain",))  # type: ignore[attr-defined]
            found.append(f"{message['Subject']}\n{body.get_content() if body else ''}")
    return found


def test_an_end_user_books_an_app_sees_it_run_opens_it_and_cancels_it(
    portal: Portal, browser: WebDriver
) -> None:
    portal.create_user(USER, "end_user", PASSWORD)
    add_buzzer(portal, "e2e-buzzer-booking")  # sorts first: the booking reserves it, not a held one
    app = demo_app(portal)
    sign_in(browser, portal, USER, PASSWORD)

    # Their zone and e-mail address first: the book form defaults to the zone, the notifier mails there.
    browser.find_element(By.LINK_TEXT, USER).click()
    settings = browser.find_element(By.ID, "settings")
    Select(settings.find_element(By.NAME, "timezone")).select_by_value(ZONE)
    settings.find_element(By.NAME, "email").send_keys(ADDRESS)
    settings.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(browser, lambda driver: "were saved" in driver.find_element(By.ID, "main").text)

    browser.find_element(By.LINK_TEXT, "Catalogue").click()
    browser.find_element(By.CSS_SELECTOR, f"#app-{app['id']} a.book").click()
    form = wait_until(browser, lambda driver: driver.find_elements(By.ID, "book"))[0]
    assert Select(form.find_element(By.NAME, "tz")).first_selected_option.get_attribute("value") == ZONE
    Select(form.find_element(By.NAME, "location")).select_by_value(PLANT)
    form.find_element(By.CSS_SELECTOR, "input[name=kind][value=once]").click()
    start = (datetime.now(ZoneInfo(ZONE)) + AHEAD).replace(microsecond=0, tzinfo=None)
    _type_into(browser, "start", f"{start:%Y-%m-%dT%H:%M:%S}")
    _type_into(browser, "end", f"{start + LENGTH:%Y-%m-%dT%H:%M:%S}")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(browser, lambda driver: "done=booked" in driver.current_url)
    booking_url = browser.current_url.split("?")[0]
    booking_id = booking_url.rsplit("/", 1)[1]
    assert "Booked." in browser.find_element(By.ID, "main").text

    # The calendar shows the window today (in the user's zone).
    browser.find_element(By.LINK_TEXT, "Bookings").click()
    today = browser.find_element(By.ID, f"day-{start.date().isoformat()}")
    placed = today.find_element(By.CSS_SELECTOR, f"a.window[data-booking='{booking_id}']")
    assert f"{start:%H:%M}" in placed.text and "fan-monitor" in placed.text
    assert booking_id in browser.find_element(By.ID, "bookings").text

    # Its page re-reads its state every 2 s: the window starts, then its page answers (Open).
    placed.click()
    open_link = "#booking-state a.open"
    wait_until(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, open_link), RUN_SECONDS)
    assert "running" in text_of(browser, "#windows")
    screenshot(browser, "end_user_bookings")
    opened = attribute_of(browser, open_link, "href")
    instance_id = opened.rstrip("/").rsplit("/", 1)[1]

    # The notifier mailed the URL of the app's page (canopy up's default: .eml files in the outbox).
    mails = wait_for(lambda: _mails_to(portal.home / "outbox", ADDRESS), 60, "the booking's start mail")
    assert any(f"/apps/{instance_id}/" in mail for mail in mails), mails

    click(browser, open_link)
    wait_until(browser, lambda driver: f"/apps/{instance_id}" in driver.current_url)
    heading = wait_until(browser, lambda driver: driver.find_elements(By.TAG_NAME, "h1"))[0]
    assert heading.text.startswith("fan-monitor:"), browser.page_source[:2000]

    # Cancel: the running window is stopped and its instance unbound.
    browser.get(booking_url)
    browser.find_element(By.XPATH, "//button[text()='Cancel booking']").click()
    browser.switch_to.alert.accept()  # portal.js asks first (data-confirm)
    wait_until(browser, lambda driver: "was cancelled" in driver.find_element(By.ID, "main").text)
    ended = "#windows tr[data-state=ended][data-outcome=cancelled]"
    wait_until(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, ended), 60)
    assert not browser.find_elements(By.CSS_SELECTOR, "#booking-state a.open")
    assert browser.find_element(By.ID, "booking-status").text == "cancelled"
    assert portal.api("GET", f"/api/v1/app-instances/{instance_id}", USER).status_code == 404  # removed
    cancelled = f"Your booking of {app['name']} at {PLANT} is cancelled"
    outbox = portal.home / "outbox"
    wait_for(lambda: any(cancelled in mail for mail in _mails_to(outbox, ADDRESS)), 60, cancelled)
