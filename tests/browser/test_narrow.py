"""Pages a customer reads on a small phone fit a 360 px screen, whatever they named
their devices."""

import pytest
from django.utils import timezone

from accounts.models import User
from notifications.models import Notification
from tests.factories import BundleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAMES = ["W" * 60, "Grandma's-brand-new-Samsung-Galaxy-Z-Fold-6-for-the-trip-2026",
              "老板的工作手机" * 8]


def test_long_device_names_fit_a_360_px_screen(browser, live_server, alice, client,
                                               screenshot):
    User.objects.filter(pk=alice.pk).update(phone="+14155550123",
                                            phone_verified_at=timezone.now())
    for name in LONG_NAMES:
        bundle = BundleFactory(esim__owner=alice, esim__nickname=name[:60])
        Notification.objects.create(customer=alice, kind="data_alert", channel="sms",
                                    bundle=bundle, esim=bundle.esim, threshold=75,
                                    status="sent", sent_at=timezone.now())
    client.force_login(alice)
    browser.get(live_server.url + "/healthz")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value,
                        "path": "/"})
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    for path in ("/esims/", "/account/notifications/"):
        for language in ("en", "zh-hans"):
            browser.add_cookie({"name": "django_language", "value": language, "path": "/"})
            User.objects.filter(pk=alice.pk).update(language=language)
            browser.get(live_server.url + path)
            width = browser.execute_script("return document.documentElement.scrollWidth")
            screenshot(f"narrow-{path.strip('/').replace('/', '-')}-{language}")
            assert width <= 360, f"{path} in {language} is {width} px wide"
