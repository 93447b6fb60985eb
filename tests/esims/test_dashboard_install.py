import urllib.parse

import pytest
from django.urls import reverse

from esims.models import Bundle, ESim
from esims.qr import qr_svg
from tests.factories import BundleFactory, ESimFactory

pytestmark = pytest.mark.django_db


def test_dashboard_shows_every_esim_with_usage_and_validity(alice_client, alice):
    BundleFactory(esim__owner=alice, esim__nickname="Phone", order__plan__name="Japan week",
                  data_allowance_bytes=4 * 1024 ** 3, data_used_bytes=1024 ** 3)
    tablet = BundleFactory(esim__owner=alice, esim__nickname="Mum's iPad").esim
    BundleFactory(esim=tablet, order__customer=alice, order__esim=tablet,
                  order__plan__name="Europe month", state=Bundle.State.QUEUED,
                  starts_at=None, ends_at=None)
    BundleFactory(esim__nickname="Bob's phone")  # someone else's
    content = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "Phone" in content and "Mum&#x27;s iPad" in content
    assert "Bob&#x27;s phone" not in content
    assert "1.00 GB of 4.00 GB used" in content and "3.00 GB left" in content
    assert 'aria-valuenow="25"' in content
    assert "7 days left" in content
    assert "Next: Europe month" in content


def test_dashboard_end_of_validity_is_in_the_customers_time_zone(alice_client, alice):
    alice.time_zone = "Asia/Tokyo"
    alice.save()
    bundle = BundleFactory(esim__owner=alice)
    bundle.ends_at = bundle.ends_at.replace(hour=15, minute=0, second=0, microsecond=0)
    bundle.save()
    content = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "00:00 (Asia/Tokyo)" in content


@pytest.mark.parametrize("count", [1, 50])
def test_dashboard_query_count_does_not_grow_with_esims(alice_client, alice, count,
                                                        django_assert_max_num_queries):
    for _ in range(count):
        BundleFactory(esim__owner=alice)
    with django_assert_max_num_queries(6):
        response = alice_client.get(reverse("esims:dashboard"))
    assert response.content.decode().count('class="card esim"') == count


def test_cached_cards_follow_every_change(alice_client, alice):
    bundle = BundleFactory(esim__owner=alice, esim__nickname="Phone", data_used_bytes=0)
    assert "0 MB of" in alice_client.get(reverse("esims:dashboard")).content.decode()
    bundle.data_used_bytes = 2 * 1024 ** 3
    bundle.save()
    bundle.esim.nickname = "Travel phone"
    bundle.esim.save()
    content = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "2.00 GB of" in content and "Travel phone" in content
    plan = bundle.plan
    plan.name_zh_hans = "日本一周"
    plan.save()
    alice_client.post(reverse("accounts:set_language"), {"language": "zh-hans"})
    content = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "Rename" not in content and "日本一周" in content


def test_cached_cards_carry_this_sessions_csrf_token(client, alice):
    from django.test import Client

    BundleFactory(esim__owner=alice)
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    for browser in (first, second):
        browser.force_login(alice)
        content = browser.get(reverse("esims:dashboard")).content.decode()
        token = content.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        assert "placeholder" not in content
        esim_pk = alice.esims.get().pk
        response = browser.post(reverse("esims:rename", args=[esim_pk]),
                                {"nickname": "Renamed", "csrfmiddlewaretoken": token})
        assert response.status_code == 302


def test_install_page_has_qr_code_manual_codes_and_install_links(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.READY, smdp_address="smdp.example.net",
                       matching_id="K2-ABCDE-12345")
    content = alice_client.get(reverse("esims:install", args=[esim.pk])).content.decode()
    lpa = "LPA:1$smdp.example.net$K2-ABCDE-12345"
    assert qr_svg(lpa) in content  # the QR encodes exactly the activation code
    assert "<svg" in content
    assert "smdp.example.net" in content and "K2-ABCDE-12345" in content
    carddata = urllib.parse.quote(lpa, safe="")
    assert f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={carddata}" in content
    assert (f"https://esimsetup.android.com/esim_qrcode_provisioning?carddata={carddata}"
            in content)


def test_install_page_waits_while_provisioning(alice_client, alice):
    esim = ESimFactory(owner=alice, state=ESim.State.PROVISIONING, matching_id="", iccid=None)
    content = alice_client.get(reverse("esims:install", args=[esim.pk])).content.decode()
    assert "<svg" not in content and "still being prepared" in content


def test_another_customers_esim_is_404(client, alice, bob):
    esim = ESimFactory(owner=alice, state=ESim.State.READY)
    client.force_login(bob)
    assert client.get(reverse("esims:install", args=[esim.pk])).status_code == 404
    response = client.post(reverse("esims:rename", args=[esim.pk]), {"nickname": "Mine now"})
    assert response.status_code == 404
    esim.refresh_from_db()
    assert esim.nickname != "Mine now"


def test_rename(alice_client, alice):
    esim = ESimFactory(owner=alice)
    alice_client.post(reverse("esims:rename", args=[esim.pk]), {"nickname": "Work phone"})
    esim.refresh_from_db()
    assert esim.nickname == "Work phone"


@pytest.mark.parametrize("nickname", ["", "   ", "x" * 61])
def test_bad_rename_changes_nothing(alice_client, alice, nickname):
    esim = ESimFactory(owner=alice, nickname="Phone")
    response = alice_client.post(reverse("esims:rename", args=[esim.pk]),
                                 {"nickname": nickname}, follow=True)
    esim.refresh_from_db()
    assert esim.nickname == "Phone"
    assert list(response.context["messages"])


def test_qr_code_is_a_scalable_svg():
    svg = qr_svg("LPA:1$smdp.example.net$ABC")
    assert svg.startswith("<svg") and "viewBox" in svg and "<path" in svg


def test_cached_empty_dashboard_follows_the_language(alice_client, bob):
    assert "No eSIM yet" in alice_client.get(reverse("esims:dashboard")).content.decode()
    bob.language = "zh-hans"
    bob.save()
    alice_client.force_login(bob)
    content = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert "No eSIM yet" not in content and "还没有 eSIM" in content


def test_flash_messages_show_once_on_a_cached_dashboard(alice_client, alice):
    esim = BundleFactory(esim__owner=alice).esim
    alice_client.get(reverse("esims:dashboard"))  # cached without a message
    response = alice_client.post(reverse("esims:rename", args=[esim.pk]),
                                 {"nickname": "Work phone"}, follow=True)
    assert "Renamed to" in response.content.decode()
    assert "Renamed to" not in alice_client.get(reverse("esims:dashboard")).content.decode()
