"""A newcomer's first journey in a real browser: sign up, buy, pay, install."""

import re

import pytest
from django.core import mail
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from esims.models import ESim
from tests.factories import PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fill(browser, name, value):
    field = browser.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def submit(browser, css="main button[type=submit]"):
    browser.find_element(By.CSS_SELECTOR, css).click()


def test_sign_up_buy_pay_and_find_the_qr_code(browser, live_server, carrier_live, screenshot):
    PlanFactory(code="jp-week", name="Japan 3 GB for a week", countries=["JP"])
    PlanFactory(code="fr-day", name="France Day Pass", countries=["FR"], coverage_name="France")
    wait = WebDriverWait(browser, 20)

    browser.get(live_server.url + "/accounts/signup/")
    fill(browser, "email", "traveller@example.com")
    fill(browser, "password1", "a long travel password")
    fill(browser, "password2", "a long travel password")
    submit(browser)
    wait.until(lambda b: len(mail.outbox) == 1)
    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    browser.get(live_server.url + link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    submit(browser)
    wait.until(EC.url_contains("/esims/"))
    assert "No eSIM yet" in browser.page_source

    browser.get(live_server.url + "/plans/")
    fill(browser, "place", "Japan")
    submit(browser, "form.filters button[type=submit]")
    wait.until(EC.url_contains("place=Japan"))
    assert "France Day Pass" not in browser.page_source
    screenshot("catalogue-phone")
    browser.find_element(By.LINK_TEXT, "Buy").click()

    wait.until(EC.presence_of_element_located((By.NAME, "nickname")))
    fill(browser, "nickname", "My phone")
    submit(browser)
    wait.until(EC.url_contains("/pay/"))
    assert "US$8.00" in browser.page_source
    submit(browser)
    wait.until(EC.url_contains("/gateway/simulated/"))
    screenshot("gateway-phone")
    browser.find_element(By.CSS_SELECTOR, "input[value=success]").click()
    submit(browser)

    # The order page follows the steps live until the eSIM can be installed.
    install = wait.until(EC.element_to_be_clickable((By.LINK_TEXT, "Install your eSIM")))
    screenshot("order-phone")
    install.click()
    qr = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".qr svg")))
    assert qr.size["width"] > 100
    esim = ESim.objects.get(owner__email="traveller@example.com")
    assert browser.find_element(By.ID, "code").text == esim.matching_id
    assert browser.find_element(By.ID, "smdp").text == esim.smdp_address
    screenshot("install-phone")

    # The device installs the profile; the dashboard shows it.
    carrier_live.download(esim.iccid)
    carrier_live.tick()
    wait.until(lambda b: ESim.objects.get(pk=esim.pk).state == ESim.State.INSTALLED)
    browser.get(live_server.url + "/esims/")
    assert "My phone" in browser.page_source and "Installed" in browser.page_source
    screenshot("dashboard-phone")

    # Renew with the same plan: the summary shows the new period, then pay again.
    browser.find_element(By.LINK_TEXT, "Renew").click()
    period = wait.until(EC.presence_of_element_located((By.ID, "new-period"))).text
    assert "right after your current plan" in period
    screenshot("renew-phone")
    submit(browser, "main form[method=post] button[type=submit]")
    wait.until(EC.url_contains("/pay/"))
    submit(browser)
    wait.until(EC.url_contains("/gateway/simulated/"))
    submit(browser)
    wait.until(lambda b: "Waiting to start after the current plan" in b.page_source)
    browser.get(live_server.url + "/esims/")
    assert "Next: Japan 3 GB for a week" in browser.page_source
