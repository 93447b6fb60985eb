"""The notifications page, and the pages signed links in messages open without signing in."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from esims.models import Bundle, ESim
from notifications.kinds import KIND_CHANNELS
from notifications.links import skip_renewal_token, unsubscribe_token
from notifications.models import ChannelSetting, Notification
from notifications.selectors import HISTORY_PAGE_SIZE, channel_choices
from tests.factories import BundleFactory, ESimFactory, auto_renewing_esim

pytestmark = pytest.mark.django_db

K = Notification.Kind
URL = "/account/notifications/"


def verify(user, number="+8613812345678"):
    type(user).objects.filter(pk=user.pk).update(phone=number, phone_verified_at=timezone.now())
    user.refresh_from_db()


def grid_post(checked: set[tuple[str, str]]) -> dict:
    data = {"action": "channels"}
    for kind, channel in checked:
        data[f"{kind}__{channel}"] = "on"
    return data


def checkbox(page: str, name: str) -> set[str]:
    """The attributes of a checkbox on the page: {"checked", "disabled"} or fewer."""
    tag = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', page)
    assert tag, name
    return {word for word in ("checked", "disabled") if f" {word}" in tag.group(0)}


def defaults_on() -> set[tuple[str, str]]:
    return {(kind, channel) for kind, channels in KIND_CHANNELS.items()
            for channel, on in channels.items() if on}


def test_the_page_is_for_signed_in_customers(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_grid_is_saved_and_read_back(alice_client, alice):
    verify(alice)
    wanted = defaults_on() - {(K.DATA_ALERT, "email"), (K.EXPIRY_REMINDER, "sms")}
    wanted |= {(K.RENEWAL_UPCOMING, "sms")}
    response = alice_client.post(URL, grid_post(wanted))
    assert response.status_code == 302
    # Only what differs from the defaults is written.
    assert set(ChannelSetting.objects.filter(customer=alice).values_list(
        "kind", "channel", "enabled")) == {(K.DATA_ALERT, "email", False),
                                           (K.EXPIRY_REMINDER, "sms", False),
                                           (K.RENEWAL_UPCOMING, "sms", True)}
    choices = channel_choices(customer=alice)
    assert {pair for pair, on in choices.items() if on} == wanted
    page = alice_client.get(URL).content.decode()
    assert checkbox(page, "data_alert__email") == set()
    assert checkbox(page, "renewal_upcoming__sms") == {"checked"}
    assert checkbox(page, "expiry_reminder__sms") == set()
    # Saving the same choices again changes nothing.
    before = list(ChannelSetting.objects.filter(customer=alice).values_list("changed_at"))
    alice_client.post(URL, grid_post(wanted))
    assert list(ChannelSetting.objects.filter(customer=alice).values_list("changed_at")) == before


def test_the_sms_column_is_disabled_until_the_number_is_verified(alice_client, alice):
    page = alice_client.get(URL).content.decode()
    assert checkbox(page, "expiry_reminder__sms") == {"checked", "disabled"}
    assert checkbox(page, "expiry_reminder__email") == {"checked"}
    assert "verify yours below to choose SMS" in page
    # What is posted for SMS is ignored; email is saved.
    wanted = (defaults_on() - {(K.EXPIRY_REMINDER, "sms"), (K.DATA_ALERT, "email")}) | {
        (K.RENEWAL_UPCOMING, "sms")}
    alice_client.post(URL, grid_post(wanted))
    assert list(ChannelSetting.objects.filter(customer=alice).values_list(
        "kind", "channel", "enabled")) == [(K.DATA_ALERT, "email", False)]
    verify(alice)
    page = alice_client.get(URL).content.decode()
    assert checkbox(page, "expiry_reminder__sms") == {"checked"}
    alice_client.post(URL, grid_post(wanted))
    assert ChannelSetting.objects.filter(customer=alice, channel="sms").count() == 2


@pytest.mark.parametrize("typed", ["0", "100", "abc", "75, 1000", "-5", "7.5",
                                   ", ".join(str(n) for n in range(1, 51))])
def test_bad_data_alerts_are_refused_with_a_message(alice_client, alice, typed):
    esim = ESimFactory(owner=alice, data_alert_percents=[60])
    response = alice_client.post(URL, {"action": "alerts", "esim": esim.pk, "percents": typed})
    assert response.status_code == 400
    assert 'class="error" role="alert"' in response.content.decode()
    esim.refresh_from_db()
    assert esim.data_alert_percents == [60]


def test_data_alerts_are_saved_sorted_and_empty_means_the_default(alice_client, alice,
                                                                  settings):
    esim = ESimFactory(owner=alice)
    response = alice_client.post(URL, {"action": "alerts", "esim": esim.pk,
                                       "percents": "90, 50%,90"})
    assert response.status_code == 302
    esim.refresh_from_db()
    assert esim.data_alert_percents == [50, 90]
    assert 'value="50, 90"' in alice_client.get(URL).content.decode()
    alice_client.post(URL, {"action": "alerts", "esim": esim.pk, "percents": ""})
    esim.refresh_from_db()
    assert esim.data_alert_percents is None
    page = alice_client.get(URL).content.decode()
    assert 'placeholder="75, 90"' in page


def test_data_alerts_typed_on_a_chinese_keyboard_are_read(alice_client, alice):
    esim = ESimFactory(owner=alice)
    response = alice_client.post(URL, {"action": "alerts", "esim": esim.pk,
                                       "percents": "80％，60、95；"})
    assert response.status_code == 302
    esim.refresh_from_db()
    assert esim.data_alert_percents == [60, 80, 95]


def test_another_customers_esim_is_a_404(alice_client, bob):
    esim = ESimFactory(owner=bob, data_alert_percents=None)
    response = alice_client.post(URL, {"action": "alerts", "esim": esim.pk, "percents": "50"})
    assert response.status_code == 404
    esim.refresh_from_db()
    assert esim.data_alert_percents is None
    assert esim.nickname not in alice_client.get(URL).content.decode()


@pytest.mark.parametrize("data", [{"action": "alerts", "esim": "abc", "percents": "50"},
                                  {"action": "alerts", "percents": "50"},
                                  {"action": "nonsense"}, {}])
def test_malformed_posts_are_a_400(alice_client, data):
    assert alice_client.post(URL, data).status_code == 400


def history(user, count, **extra):
    bundle = BundleFactory(esim__owner=user, esim__nickname=f"{user.email} phone")
    now = timezone.now()
    return [Notification.objects.create(
        customer=user, kind=K.DATA_ALERT, channel="email", bundle=bundle, esim=bundle.esim,
        threshold=n, status=Notification.Status.SENT, sent_at=now, created_at=now,
        **extra) for n in range(count)]


def test_the_history_shows_only_mine_newest_first_a_page_at_a_time(alice_client, alice,
                                                                  bob):
    history(alice, HISTORY_PAGE_SIZE + 3)
    history(bob, 2)
    page = alice_client.get(URL).content.decode()
    assert page.count('class="history-row"') == HISTORY_PAGE_SIZE
    assert "alice@example.com phone" in page and "bob@example.com phone" not in page
    assert "Page 1 of 2" in page
    second = alice_client.get(URL + "?page=2").content.decode()
    assert second.count('class="history-row"') == 3


def test_the_history_names_each_step(alice_client, alice):
    history(alice, 1)
    bundle = BundleFactory(esim__owner=alice)
    Notification.objects.create(customer=alice, kind=K.EXPIRY_REMINDER, channel="sms",
                                bundle=bundle, esim=bundle.esim, threshold=7)
    Notification.objects.filter(customer=alice, kind=K.DATA_ALERT).update(threshold=90)
    page = alice_client.get(URL).content.decode()
    assert "Data running low · 90%" in page
    assert "Plan ending soon · 7 days before" in page


@pytest.mark.parametrize("page", ["abc", "-1", "0", "999999999999999999999", "1e9", "2%00"])
def test_a_hostile_page_number_is_no_500(alice_client, alice, page):
    history(alice, 1)
    response = alice_client.get(URL, {"page": page})
    assert response.status_code == 200
    assert response.content.decode().count('class="history-row"') == 1


def test_the_account_pages_link_to_the_notifications_page(alice_client):
    for page in (reverse("accounts:preferences"), reverse("esims:dashboard")):
        assert f'href="{URL}"' in alice_client.get(page).content.decode()


# --- Unsubscribe (RFC 8058).

def unsubscribe_url(user, kind=K.DATA_ALERT, channel="email"):
    return reverse("notifications:unsubscribe", args=[
        unsubscribe_token(customer_id=user.pk, kind=kind, channel=channel)])


def test_unsubscribe_shows_what_it_switches_off_then_does_it(client, alice):
    url = unsubscribe_url(alice)
    page = client.get(url).content.decode()
    assert "Data running low" in page and "Email" in page and "List-Unsubscribe" in page
    assert channel_choices(customer=alice)[(K.DATA_ALERT, "email")]
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "Unsubscribed" in response.content.decode()
    assert not channel_choices(customer=alice)[(K.DATA_ALERT, "email")]


def test_a_mail_clients_one_click_post_needs_no_csrf_or_cookie(alice):
    client = Client(enforce_csrf_checks=True)
    url = unsubscribe_url(alice, K.EXPIRY_REMINDER, "email")
    for _ in range(2):  # repeated: the same one row, still off
        response = client.post(url, "List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200
    assert list(ChannelSetting.objects.filter(customer=alice).values_list(
        "kind", "channel", "enabled")) == [(K.EXPIRY_REMINDER, "email", False)]


def test_a_post_without_the_one_click_body_changes_nothing(client, alice):
    response = client.post(unsubscribe_url(alice), {"something": "else"})
    assert response.status_code == 400
    assert not ChannelSetting.objects.exists()


@pytest.mark.parametrize("token", ["nonsense", "a" * 300, "eyJhIjoxfQ:1:abc"])
def test_a_bad_unsubscribe_link_is_a_4xx(client, alice, token):
    url = reverse("notifications:unsubscribe", args=[token])
    assert client.get(url).status_code == 400
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 400
    assert not ChannelSetting.objects.exists()


def test_an_altered_or_foreign_unsubscribe_link_is_a_4xx(client, alice):
    token = unsubscribe_token(customer_id=alice.pk, kind=K.DATA_ALERT, channel="email")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(reverse("notifications:unsubscribe", args=[tampered])).status_code == 400
    # A kind that never goes out by SMS, or a customer that does not exist.
    assert client.get(unsubscribe_url(alice, K.ORDER_PAID, "sms")).status_code == 400
    gone = reverse("notifications:unsubscribe", args=[
        unsubscribe_token(customer_id=alice.pk + 1000, kind=K.DATA_ALERT, channel="email")])
    assert client.get(gone).status_code == 400
    # A skip-renewal token is not an unsubscribe token.
    other = skip_renewal_token(esim_id=1, bundle_id=1)
    assert client.get(reverse("notifications:unsubscribe", args=[other])).status_code == 400


def test_the_unsubscribe_page_speaks_the_customers_language(client, alice):
    type(alice).objects.filter(pk=alice.pk).update(language="zh-hans")
    page = client.get(unsubscribe_url(alice)).content.decode()
    assert '<html lang="zh-Hans">' in page


# --- Skip this renewal.

def skip_url(esim, bundle_id=None):
    bundle_id = bundle_id or esim.bundles.get(state=Bundle.State.ACTIVE).pk
    return reverse("notifications:skip_renewal", args=[
        skip_renewal_token(esim_id=esim.pk, bundle_id=bundle_id)])


def test_skip_shows_the_renewal_then_skips_it_once(client, alice):
    esim = auto_renewing_esim(alice)
    url = skip_url(esim)
    page = client.get(url).content.decode()
    assert "Skip this renewal?" in page and "US$8.00" in page
    assert esim.renewal_plan.name in page
    for _ in range(2):
        response = client.post(url)
        assert response.status_code == 200
        assert "Renewal skipped" in response.content.decode()
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id == esim.bundles.get().pk
    assert esim.auto_renew
    assert "Renewal skipped" in client.get(url).content.decode()


def test_skip_needs_the_csrf_token_of_its_own_page(alice):
    esim = auto_renewing_esim(alice)
    client = Client(enforce_csrf_checks=True)
    assert client.post(skip_url(esim)).status_code == 403
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id is None


def test_a_stale_skip_link_has_nothing_to_skip(client, alice):
    esim = auto_renewing_esim(alice)
    old = esim.bundles.get()
    url = skip_url(esim, old.pk)
    Bundle.objects.filter(pk=old.pk).update(state=Bundle.State.EXPIRED)
    BundleFactory(esim=esim)
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 200
        assert "Nothing to skip" in response.content.decode()
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id is None


def test_a_skip_link_after_the_renewal_was_paid_says_so(client, alice):
    """The link came in a reminder before the charge; opened after it, the page must not
    offer to skip a renewal that is paid already."""
    esim = auto_renewing_esim(alice)
    url = skip_url(esim)
    BundleFactory(esim=esim, state=Bundle.State.QUEUED, starts_at=None, ends_at=None)
    for response in (client.get(url), client.post(url)):
        page = response.content.decode()
        assert "Nothing to skip" in page and "renewed already" in page
        assert "Skip this renewal?" not in page
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id is None


def test_with_auto_renewal_off_there_is_nothing_to_skip(client, alice):
    esim = auto_renewing_esim(alice)
    ESim.objects.filter(pk=esim.pk).update(auto_renew=False)
    response = client.post(skip_url(esim))
    assert "Nothing to skip" in response.content.decode()
    esim.refresh_from_db()
    assert esim.renewal_skipped_bundle_id is None


@pytest.mark.parametrize("token", ["nonsense", "x" * 500])
def test_a_bad_skip_link_is_a_4xx(client, token):
    url = reverse("notifications:skip_renewal", args=[token])
    assert client.get(url).status_code == 400
    assert client.post(url).status_code == 400
