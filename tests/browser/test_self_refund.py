"""A customer in Chinese, on a 390 px phone, buys an eSIM, changes their mind before
installing it, cancels it from the order page and sees the refund and its credit note."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import User
from billing.models import CreditNote, Order, SimulatedCharge
from esims.models import ESim
from tests.factories import PlanFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submit(browser, css="main button[type=submit]"):
    browser.find_element(By.CSS_SELECTOR, css).click()


def fits(browser, width=390):
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    wide = browser.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => "
        "e.getBoundingClientRect().right > arguments[0] && ![...e.children].some(c => "
        "c.getBoundingClientRect().right > arguments[0])).slice(0, 8).map(e => "
        "e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right + ' ' + "
        "e.textContent.slice(0, 60))", width)
    assert scroll <= width, f"{browser.current_url} is {scroll} px wide: {wide}"


def test_cancel_an_unused_esim_in_chinese_on_a_phone(browser, live_server, carrier_live,
                                                     alice, client, screenshot):
    PlanFactory(code="jp-week", name="Japan 3 GB for a week", name_zh_hans="日本 3 GB 一周",
                countries=["JP"])
    User.objects.filter(pk=alice.pk).update(language="zh-hans")
    client.force_login(alice)
    browser.get(live_server.url + "/healthz")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value,
                        "path": "/"})
    browser.add_cookie({"name": "django_language", "value": "zh-hans", "path": "/"})
    # A phone's 390 px (a desktop Chromium window will not go that narrow).
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    wait = WebDriverWait(browser, 20)

    # Buy and pay.
    browser.get(live_server.url + "/orders/new/jp-week/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    browser.find_element(By.NAME, "nickname").send_keys("旅行手机")
    submit(browser)
    wait.until(EC.url_contains("/pay/"))
    submit(browser)
    wait.until(EC.url_contains("/gateway/simulated/"))
    submit(browser)
    order = Order.objects.get(customer=alice)
    wait.until(EC.url_to_be(f"{live_server.url}/orders/{order.number}/"))

    # Once the eSIM is ready to install, the order page offers to cancel it.
    cancel = f"/orders/{order.number}/cancel/"

    def offered(b):
        if not b.find_elements(By.CSS_SELECTOR, f"#cancel-offer a[href='{cancel}']"):
            b.refresh()
            return False
        return True

    wait.until(offered)
    assert ESim.objects.get(owner=alice).state == ESim.State.READY
    fits(browser)
    screenshot("order-cancel-offer-zh-phone")
    browser.find_element(By.CSS_SELECTOR, f"#cancel-offer a[href='{cancel}']").click()

    # The confirmation page, then the refund.
    wait.until(EC.presence_of_element_located((By.ID, "cancel-esim")))
    assert "US$8.00" in browser.find_element(By.ID, "cancel-esim").text
    fits(browser)
    screenshot("order-cancel-confirm-zh-phone")
    submit(browser, "#cancel-esim form button[type=submit]")
    wait.until(EC.presence_of_element_located((By.ID, "refunded")))
    fits(browser)
    screenshot("order-refunded-zh-phone")

    note = CreditNote.objects.get()
    link = browser.find_element(By.CSS_SELECTOR, "#refunded a")
    assert link.get_attribute("href").endswith(f"/orders/credit-notes/{note.number}.pdf")
    assert note.number in link.text
    assert browser.find_elements(By.CSS_SELECTOR, ".messages li.success")
    assert not browser.find_elements(By.ID, "cancel-offer")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert SimulatedCharge.objects.get(
        reference=order.payments.get().gateway_reference).status == "refunded"
    assert ESim.objects.get(owner=alice).state == ESim.State.CANCELLED
