"""A customer who signs up, proves a mobile number, buys a plan and then does nothing:
time moves forward and every reminder and alert reaches them on the channels they chose,
each can be switched off from the message itself, and the dashboard says how fresh the
usage figure is."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from carrier.tasks import usage_poll_sweep
from esims.models import Bundle, ESim
from notifications.models import ChannelSetting, Notification
from notifications.sms import LocmemBackend
from notifications.tasks import reminder_sweep
from tests.factories import PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GB = 1024 ** 3
NUMBER = "+14155550123"


def fill(browser, name, value):
    field = browser.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def submit(browser, css="main button[type=submit]"):
    browser.find_element(By.CSS_SELECTOR, css).click()


def local(live_server, url):
    """A link from a message, opened on the test server (same path and query)."""
    return live_server.url + "/" + url.split("://", 1)[1].split("/", 1)[1]


def emails(kind_subject: str) -> list:
    return [m for m in mail.outbox if kind_subject in m.subject]


def texts() -> list[str]:
    return [text["body"] for text in LocmemBackend.outbox]


def clear_outboxes():
    mail.outbox.clear()
    LocmemBackend.outbox.clear()


@pytest.fixture(autouse=True)
def _daytime_texts(settings):
    # The night hold has its own tests (tests/notifications/test_sms.py); here the run's
    # wall-clock hour must not decide whether a text goes.
    settings.SMS_QUIET_HOURS_START = settings.SMS_QUIET_HOURS_END = 8
    LocmemBackend.outbox.clear()
    yield
    LocmemBackend.outbox.clear()


def sign_up_and_verify_a_number(browser, live_server, wait):
    browser.get(live_server.url + "/accounts/signup/")
    fill(browser, "email", "nomad@example.com")
    fill(browser, "password1", "a long travel password")
    fill(browser, "password2", "a long travel password")
    submit(browser)
    wait.until(lambda b: len(mail.outbox) == 1)
    browser.get(local(live_server, re.search(r"https?://\S+", mail.outbox[0].body).group(0)))
    submit(browser)
    wait.until(EC.url_contains("/esims/"))

    browser.get(live_server.url + "/account/notifications/")
    fill(browser, "phone", NUMBER)
    submit(browser, "#phone-form button[type=submit]")
    wait.until(lambda b: LocmemBackend.outbox)
    code = re.search(r"\b(\d{6})\b", LocmemBackend.outbox[-1]["body"]).group(1)
    wait.until(EC.presence_of_element_located((By.ID, "verify-form")))
    fill(browser, "code", code)
    submit(browser, "#verify-form button[type=submit]")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#phone .badge.ok")))
    assert browser.find_elements(By.ID, "sms-disabled") == []  # SMS can be chosen now


def buy_a_month_and_install(browser, live_server, carrier_live, wait) -> ESim:
    browser.get(live_server.url + "/plans/")
    browser.find_element(By.LINK_TEXT, "Buy").click()
    wait.until(EC.presence_of_element_located((By.NAME, "nickname")))
    fill(browser, "nickname", "Nomad's phone")
    submit(browser)
    wait.until(EC.url_contains("/pay/"))
    submit(browser)
    wait.until(EC.url_contains("/gateway/simulated/"))
    browser.find_element(By.CSS_SELECTOR, "input[value=success]").click()
    submit(browser)
    wait.until(EC.element_to_be_clickable((By.LINK_TEXT, "Install your eSIM")))
    esim = ESim.objects.get(owner__email="nomad@example.com")
    carrier_live.download(esim.iccid)
    carrier_live.tick()
    wait.until(lambda b: Bundle.objects.filter(esim=esim, state=Bundle.State.ACTIVE,
                                               ends_at__isnull=False).exists())
    return esim


def unsubscribe_from(browser, live_server, wait, message):
    """Open the message's List-Unsubscribe link and confirm, as a reader would."""
    url = message.extra_headers["List-Unsubscribe"].strip("<>")
    browser.get(local(live_server, url))
    button = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "main form button")))
    button.click()
    wait.until(EC.staleness_of(button))


def test_a_customer_who_does_nothing_is_told_everything_in_time(
        browser, live_server, carrier_live, settings, screenshot):
    settings.PORTAL_BASE_URL = live_server.url
    PlanFactory(code="jp-month", name="Japan month", validity_days=30, validity_kind="month",
                data_mb=3 * 1024)
    carrier_live.configure(usage_bytes_per_second=0)  # data moves only when we say
    wait = WebDriverWait(browser, 20)

    sign_up_and_verify_a_number(browser, live_server, wait)
    esim = buy_a_month_and_install(browser, live_server, carrier_live, wait)
    bundle = Bundle.objects.get(esim=esim, state=Bundle.State.ACTIVE)
    end = bundle.ends_at
    clear_outboxes()
    # From here on time only moves forward, for the portal and the carrier alike.
    with time_machine.travel(timezone.now(), tick=True) as clock:
        the_weeks_go_by(browser, live_server, carrier_live, wait, screenshot, clock,
                        esim=esim, end=end)


def the_weeks_go_by(browser, live_server, carrier_live, wait, screenshot, clock, *, esim,
                    end):
    # 80% of the data used: the 75% alert, by email and by text, saying how fresh it is.
    carrier_live.consume(esim.iccid, int(2.4 * GB))
    clock.shift(timedelta(minutes=20))
    carrier_live.tick()  # the carrier's records catch up with the phone
    assert usage_poll_sweep() == 1
    [alert] = emails("75%")
    assert "Nomad's phone" in alert.subject and "&#x27;" not in alert.subject
    assert re.search(r"updated|as of", alert.body, re.I)
    assert [t for t in texts() if "75%" in t]
    clock.shift(timedelta(minutes=12))
    browser.get(live_server.url + "/esims/")
    card = browser.find_element(By.CSS_SELECTOR, "main").text
    assert "updated 12 min ago" in card, card
    screenshot("reminders-dashboard-freshness")

    # Data alerts by email are switched off from the alert itself; texts still come.
    unsubscribe_from(browser, live_server, wait, alert)
    assert ChannelSetting.objects.filter(customer=esim.owner, kind="data_alert",
                                         channel="email", enabled=False).exists()
    clear_outboxes()
    carrier_live.consume(esim.iccid, int(0.4 * GB))
    clock.shift(timedelta(minutes=20))
    carrier_live.tick()
    assert usage_poll_sweep() == 1
    assert emails("90%") == [] and [t for t in texts() if "90%" in t]

    # Seven days before the end: the reminder, with a one-tap renew link (no card).
    clear_outboxes()
    clock.move_to(end - timedelta(days=7, minutes=-1))
    assert reminder_sweep() >= 1
    assert reminder_sweep() == 0  # a second sweep sends nothing again
    [reminder] = mail.outbox
    assert "/orders/renew/" in reminder.body and "plan=jp-month" in reminder.body
    [text] = texts()
    assert "7 days" in text and len(text) <= 160
    # Reminders by email switched off from this one; the last day still comes by text.
    unsubscribe_from(browser, live_server, wait, reminder)
    screenshot("reminders-unsubscribed")
    clear_outboxes()
    clock.move_to(end - timedelta(days=1, minutes=-1))
    reminder_sweep()
    assert mail.outbox == []
    [text] = texts()
    assert "1 day" in text

    # The plan ends: "plan ended" on both channels, with a renew link.
    clear_outboxes()
    clock.move_to(end + timedelta(minutes=30))
    carrier_live.tick()
    usage_poll_sweep()
    esim.refresh_from_db()
    assert esim.state == ESim.State.EXPIRED
    [ended] = mail.outbox
    assert "/orders/renew/" in ended.body
    assert [t for t in texts() if "ended" in t]
    # Each kind went once per step and channel, whatever ran twice.
    sent = list(Notification.objects.filter(customer=esim.owner).exclude(
        kind__in=["order_paid", "esim_ready"]).values_list("kind", "threshold", "channel"))
    assert len(sent) == len(set(sent))
