"""The support desk in a real browser: an agent (staff, not a superuser) signs in, finds
a customer by email, reads their story and extends their eSIM with a reason."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import formats, timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from esims.models import Bundle
from support.models import StaffAction
from tests.factories import UserFactory
from tests.journeys import install_esim

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AGENT_PERMISSIONS = ["view_user", "view_esim", "change_esim", "view_bundle", "view_order",
                     "change_order", "view_ticket", "change_ticket", "view_notification",
                     "view_staffaction", "view_carrierevent"]


@pytest.fixture
def agent():
    agent = UserFactory(email="agent@example.com", is_staff=True, time_zone="Asia/Shanghai")
    agent.user_permissions.set(Permission.objects.filter(codename__in=AGENT_PERMISSIONS))
    return agent


def fits(browser, width):
    return browser.execute_script("return document.documentElement.scrollWidth") <= width


def test_an_agent_finds_a_customer_reads_the_story_and_extends_the_esim(
        browser, live_server, carrier_live, alice, plans, agent, screenshot):
    esim = install_esim(carrier_live, alice, plans["week"])
    bundle = Bundle.objects.get(esim=esim)
    end = bundle.ends_at
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1280, 900)

    # Sign in at allauth's login, which sends staff on to the admin.
    browser.get(live_server.url + "/staff/")
    wait.until(EC.presence_of_element_located((By.NAME, "login"))).send_keys(agent.email)
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "site-name")))

    # Find the customer by email among the eSIMs, and open their story.
    browser.get(live_server.url + "/staff/esims/esim/")
    search = wait.until(EC.presence_of_element_located((By.ID, "searchbar")))
    search.send_keys("alice@example.com\n")
    wait.until(EC.presence_of_element_located((By.LINK_TEXT, "customer"))).click()
    wait.until(EC.presence_of_element_located((By.ID, "story-timeline")))
    assert "alice@example.com" in browser.find_element(By.ID, "story-customer").text
    card = browser.find_element(By.ID, f"esim-{esim.pk}")
    assert "Installed" in card.text and plans["week"].name in card.text
    assert "Times in Asia/Shanghai" in browser.page_source
    screenshot("support-story-desktop")
    assert fits(browser, 1280)

    # Extend validity from the story, with a reason.
    card.find_element(By.LINK_TEXT, "Extend validity").click()
    days = wait.until(EC.presence_of_element_located((By.NAME, "days")))
    days.send_keys("3")
    browser.find_element(By.NAME, "reason").send_keys("Network outage in Kyoto")
    browser.find_element(By.CSS_SELECTOR, "#staff-action input[type=submit]").click()

    # Back on the story, with the outcome.
    message = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".messagelist")))
    bundle.refresh_from_db()
    assert bundle.ends_at == end + timedelta(days=3)
    new_end = formats.date_format(timezone.localtime(
        bundle.ends_at, timezone=__import__("zoneinfo").ZoneInfo("Asia/Shanghai")),
        "DATETIME_FORMAT")
    assert f"Extended by 3 days: the plan now ends {new_end}." in message.text
    assert "/story/" in browser.current_url
    screenshot("support-story-extended")
    browser.execute_script("document.getElementById('story-open').scrollIntoView()")
    screenshot("support-story-timeline")
    assert "Extend validity by agent@example.com" in browser.find_element(
        By.ID, "story-timeline").text
    action = StaffAction.objects.get()
    assert (action.actor, action.kind, action.note) == (agent, "extend_validity",
                                                       "Network outage in Kyoto")

    # The story and an action's page on a phone, in English and in Chinese.
    story = browser.current_url
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    for language in ("en", "zh-hans"):
        User.objects.filter(pk=agent.pk).update(language=language)
        for url in (story, f"{live_server.url}/staff/esims/esim/{esim.pk}/extend/"):
            browser.get(url)
            wait.until(EC.presence_of_element_located((By.ID, "content")))
            screenshot(f"support-{'story' if url == story else 'extend'}-phone-{language}")
            assert fits(browser, 390), (url, language)
