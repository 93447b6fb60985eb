"""A visitor finds an answer, then asks support about an eSIM with a screenshot, in a real
browser: home page, help centre, search, an article, sign-in, the question with the eSIM
and a screenshot attached, and the screenshot shown back on the ticket."""

import io
from pathlib import Path

import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from support.models import Ticket
from tests.browser.axe import assert_accessible
from tests.factories import ESimFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screenshot_file(tmp_path) -> Path:
    path = tmp_path / "no-signal.png"
    picture = Image.new("RGB", (390, 200), (253, 236, 234))
    out = io.BytesIO()
    picture.save(out, "PNG")
    path.write_bytes(out.getvalue())
    return path


def test_a_visitor_reads_the_help_then_asks_support_about_an_esim_with_a_screenshot(
        browser, live_server, alice, screenshot_file, screenshot):
    esim = ESimFactory(owner=alice, nickname="Travel phone")
    wait = WebDriverWait(browser, 20)

    # The home page says what the service is and leads to the help.
    browser.get(live_server.url + "/")
    assert "Mobile data abroad" in browser.find_element(By.TAG_NAME, "h1").text
    assert "*#06#" in browser.page_source
    assert_accessible(browser, "home, phone")
    screenshot("home-phone")
    browser.find_element(By.CSS_SELECTOR, ".site-nav").find_element(
        By.LINK_TEXT, "Help").click()
    wait.until(EC.presence_of_element_located((By.ID, "help-q")))

    # Search, and open the answer.
    field = browser.find_element(By.ID, "help-q")
    field.send_keys("switch off auto renewal")
    field.submit()
    results = wait.until(EC.presence_of_element_located((By.ID, "help-results")))
    assert_accessible(browser, "help search, phone")
    results.find_element(By.PARTIAL_LINK_TEXT, "Auto-renewal, and how to switch it off").click()
    wait.until(EC.url_contains("/help/auto-renewal/"))
    article = browser.find_element(By.CSS_SELECTOR, "article.help-article")
    assert "Why renew once by hand first" in article.text
    assert "24 hours before the running plan ends" in article.text
    assert_accessible(browser, "help article, phone")
    screenshot("help-article-phone")

    # "Still stuck?": contacting support asks to sign in, then opens the question.
    browser.find_element(By.CSS_SELECTOR, ".help-contact a").click()
    wait.until(EC.url_contains("/accounts/login/"))
    browser.find_element(By.NAME, "login").send_keys("alice@example.com")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    context = wait.until(EC.presence_of_element_located((By.ID, "ticket-context")))
    assert "From the help article" in context.text
    assert_accessible(browser, "new question, phone")

    # About the eSIM, with a screenshot.
    Select(browser.find_element(By.NAME, "about")).select_by_visible_text("Travel phone")
    subject = browser.find_element(By.NAME, "subject")
    subject.clear()
    subject.send_keys("No data after switching auto-renewal off")
    browser.find_element(By.NAME, "body").send_keys("The eSIM shows no signal since this morning.")
    browser.find_element(By.NAME, "screenshot").send_keys(str(screenshot_file))
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    about = wait.until(EC.presence_of_element_located((By.ID, "ticket-about")))
    assert "Travel phone" in about.text
    image = browser.find_element(By.CSS_SELECTOR, ".ticket-shot img")
    wait.until(lambda b: b.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image) == 390)
    assert image.get_attribute("alt") == "Screenshot: no-signal.png"
    assert_accessible(browser, "ticket with a screenshot, phone")
    screenshot("ticket-screenshot-phone")

    ticket = Ticket.objects.get()
    assert ticket.esim == esim and ticket.customer == alice
    message = ticket.messages.get()
    assert message.attachment_name == "no-signal.png"
    assert "Sent from the help article" in message.body

    # The same pages at a desktop's width.
    browser.set_window_size(1280, 900)
    for path in ("/help/", "/help/auto-renewal/"):
        browser.get(live_server.url + path)
        assert_accessible(browser, f"{path}, desktop")
