"""Auto-renewal in a real browser: save a card on the simulated gateway, switch auto-renewal
on and off, renew once by hand and download the receipt."""

import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from billing.models import PaymentMethod
from esims.models import ESim
from tests.journeys import install_esim

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def installed_live(carrier_live, alice, plans):
    """Alice's eSIM bought with the week plan and installed, at the simulator that calls
    the live server back."""
    return install_esim(carrier_live, alice, plans["week"])


def sign_in(browser, live_server, email, password="correct horse battery"):
    browser.get(live_server.url + "/accounts/login/")
    field = browser.find_element(By.NAME, "login")
    field.send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 20).until(EC.url_contains("/esims/"))


def click_button(browser, text):
    browser.find_element(By.XPATH, f"//main//button[normalize-space()='{text}']").click()


def test_save_a_card_switch_auto_renewal_on_and_off_renew_and_get_the_receipt(
        browser, live_server, installed_live, screenshot):
    esim = installed_live
    wait = WebDriverWait(browser, 20)
    sign_in(browser, live_server, "alice@example.com")
    card_on_dashboard = browser.find_element(By.ID, f"esim-{esim.pk}")
    assert "Auto-renewal off" in card_on_dashboard.text

    # From the dashboard to the auto-renewal page; no card yet, so add one.
    card_on_dashboard.find_element(By.LINK_TEXT, "Switch on").click()
    wait.until(EC.presence_of_element_located((By.ID, "auto-renew-status")))
    assert "No saved card yet." in browser.page_source
    settings_url = browser.current_url
    click_button(browser, "Add a card")

    # The simulated gateway's card page: a card that pays.
    wait.until(EC.url_contains("/gateway/simulated/card/"))
    screenshot("simulated-card-phone")
    browser.find_element(By.XPATH, "//label[contains(., 'A card that pays')]/input").click()
    click_button(browser, "Save card")

    # Back on the auto-renewal page with the card saved.
    wait.until(EC.url_to_be(settings_url))
    assert "Card saved: Visa •••• 4242" in browser.find_element(By.CSS_SELECTOR, ".messages").text
    card = PaymentMethod.objects.get(customer=esim.owner, status=PaymentMethod.Status.ACTIVE)
    Select(browser.find_element(By.NAME, "plan")).select_by_visible_text("Japan month")
    browser.find_element(By.CSS_SELECTOR, f"input[name=card][value='{card.pk}']").click()
    click_button(browser, "Switch auto-renewal on")

    # The page before the switch shows a #next-charge too (what switching on would
    # charge): wait for the page after it, by its message, before reading it.
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".messages"),
                                                "Auto-renewal is on."))
    status = browser.find_element(By.ID, "next-charge")
    esim.refresh_from_db()
    assert esim.auto_renew and esim.renewal_plan.code == "jp-month"
    when = r"\d{1,2} \w{3} \d{4}, \d{2}:\d{2}"
    assert re.fullmatch(rf"Next charge: {when} \(UTC\) — US\$18\.00 for Japan month, "
                        rf"from {when} to {when}\.", status.text), status.text
    assert f"{esim.renew_at:%-d %b %Y, %H:%M}" in status.text
    screenshot("auto-renew-on-phone")

    browser.get(live_server.url + "/esims/")
    line = browser.find_element(By.CSS_SELECTOR, f"#esim-{esim.pk} .auto-renew-line")
    assert "Auto-renewal on" in line.text and "Manage" in line.text

    # Switch it off on the same page.
    line.find_element(By.LINK_TEXT, "Manage").click()
    wait.until(EC.presence_of_element_located((By.ID, "switch-off")))
    click_button(browser, "Switch off")
    wait.until(EC.invisibility_of_element_located((By.ID, "switch-off")))
    assert ("Auto-renewal is off. Nothing more will be charged"
            in browser.find_element(By.CSS_SELECTOR, ".messages").text)
    assert not ESim.objects.get(pk=esim.pk).auto_renew
    renew_link = browser.find_element(By.LINK_TEXT, "Renew once by hand")

    # Renew once by hand on the simulated gateway.
    renew_link.click()
    wait.until(EC.presence_of_element_located((By.ID, "new-period")))
    browser.find_element(By.CSS_SELECTOR, "main form[method=post] button[type=submit]").click()
    wait.until(EC.url_contains("/pay/"))
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.url_contains("/gateway/simulated/"))
    browser.find_element(By.CSS_SELECTOR, "input[value=success]").click()
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(lambda b: "Waiting to start after the current plan" in b.page_source)

    # Orders → Receipts → the PDF.
    browser.find_element(By.LINK_TEXT, "Orders").click()
    wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Receipts"))).click()
    download = wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Download PDF")))
    href = download.get_attribute("href")
    assert href.startswith(live_server.url) and href.endswith(".pdf")
    session = requests.Session()
    for cookie in browser.get_cookies():
        session.cookies.set(cookie["name"], cookie["value"], path=cookie.get("path", "/"))
    response = session.get(href, allow_redirects=False, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.content.startswith(b"%PDF")
