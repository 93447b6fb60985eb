"""The account in a real browser: sign up in Ho Chi Minh City's time zone (the browser's,
taken by the sign-up page's script), pick another zone from the grouped list, download
my data, close the account, and find the door shut."""

import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from tests.browser.axe import FAILING_IMPACTS, axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL, PASSWORD = "traveller@example.com", "a long travel password"
PHONE, DESKTOP = 390, 1280


def _width(browser, width: int) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def _fits_and_passes_axe(browser, page: str) -> None:
    """At a phone's and a desktop's width: nothing wider than the screen, and no serious
    or critical accessibility violation."""
    for width in (PHONE, DESKTOP):
        _width(browser, width)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page} is {overflow}px wider than {width}px"
        blocking = [v for v in axe_violations(browser, page) if v.impact in FAILING_IMPACTS]
        assert not blocking, "\n".join(v.describe() for v in blocking)
    _width(browser, PHONE)


def _press(browser, text: str) -> None:
    browser.find_element(By.XPATH, f"//main//button[normalize-space()='{text}']").click()


def test_sign_up_pick_a_zone_download_my_data_close_and_never_sign_in_again(
        browser, live_server, screenshot):
    wait = WebDriverWait(browser, 20)
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride",
                            {"timezoneId": "Asia/Ho_Chi_Minh"})
    downloads = Path(tempfile.mkdtemp(prefix="account-download-"))
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})

    # Sign up: the page's script fills in the browser's zone.
    browser.get(live_server.url + reverse("account_signup"))
    browser.find_element(By.NAME, "email").send_keys(EMAIL)
    browser.find_element(By.NAME, "password1").send_keys(PASSWORD)
    browser.find_element(By.NAME, "password2").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_contains("/accounts/confirm-email/"))
    assert User.objects.get(email=EMAIL).time_zone == "Asia/Ho_Chi_Minh"

    # Confirm the address from the email: signed in.
    link = re.search(r"https?://\S+", mail.outbox[-1].body)
    assert link is not None
    browser.get(live_server.url + urlsplit(link.group(0)).path)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_contains("/esims/"))

    # The header's Account link; the account page ties everything together.
    browser.find_element(By.LINK_TEXT, "Account").click()
    wait.until(EC.url_to_be(live_server.url + reverse("accounts:account")))
    assert "(UTC+07:00) Ho Chi Minh City" in browser.find_element(By.TAG_NAME, "main").text
    _fits_and_passes_axe(browser, "account")
    screenshot("account-phone")

    # Pick another zone from the grouped list.
    browser.find_element(By.LINK_TEXT, "Change preferences").click()
    zones = Select(browser.find_element(By.NAME, "time_zone"))
    assert zones.first_selected_option.get_attribute("value") == "Asia/Ho_Chi_Minh"
    asia = browser.find_element(By.CSS_SELECTOR, "select[name=time_zone] optgroup[label=Asia]")
    assert "(UTC+09:00) Tokyo" in [o.text for o in asia.find_elements(By.TAG_NAME, "option")]
    zones.select_by_visible_text("(UTC+09:00) Tokyo")
    _fits_and_passes_axe(browser, "preferences")
    _press(browser, "Save")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messages")))
    assert User.objects.get(email=EMAIL).time_zone == "Asia/Tokyo"

    # Download my data.
    browser.get(live_server.url + reverse("accounts:account"))
    _press(browser, "Download my data")
    deadline = time.monotonic() + 20
    while not list(downloads.glob("esim-portal-data-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    [file] = downloads.glob("esim-portal-data-*.json")
    data = json.loads(file.read_text(encoding="utf-8"))
    assert (data["profile"]["email"], data["profile"]["time_zone"]) == (EMAIL, "Asia/Tokyo")

    # Close the account: the page explains, the box is ticked, the password asked again.
    browser.find_element(By.LINK_TEXT, "Close my account…").click()
    wait.until(EC.url_to_be(live_server.url + reverse("accounts:close")))
    _fits_and_passes_axe(browser, "close account")
    screenshot("close-account-phone")
    browser.find_element(By.NAME, "confirm").click()
    _press(browser, "Close my account")
    wait.until(EC.url_contains(reverse("account_reauthenticate")))
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_to_be(live_server.url + reverse("accounts:closed")))
    assert "Your account is closed" in browser.find_element(By.TAG_NAME, "h1").text
    _fits_and_passes_axe(browser, "account closed")
    closed = User.objects.get(pk=User.objects.get(email__startswith="closed-").pk)
    assert not closed.is_active and closed.closed_at is not None

    # The door is shut.
    login = live_server.url + reverse("account_login")
    browser.get(login)
    browser.find_element(By.NAME, "login").send_keys(EMAIL)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "main .errorlist")))
    browser.get(live_server.url + reverse("esims:dashboard"))
    assert browser.current_url.startswith(login)
