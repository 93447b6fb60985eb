"""A new account takes the browser's time zone; the list to change it is grouped by region
and reads in both languages, each zone its current offset and city."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.models import User
from accounts.time_zones import offered, time_zone_choices, time_zone_normalise

pytestmark = pytest.mark.django_db

WINTER = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)
SUMMER = datetime(2027, 7, 15, 12, 0, tzinfo=UTC)


def _sign_up(client, email="new@example.com", **extra):
    return client.post(reverse("account_signup"), {
        "email": email, "password1": "a long travel password",
        "password2": "a long travel password", **extra})


def test_the_sign_up_form_carries_a_field_for_the_browsers_time_zone(client):
    page = client.get(reverse("account_signup")).content.decode()
    field = re.search(r"<input[^>]*name=\"time_zone\"[^>]*>", page)
    assert field is not None
    assert 'type="hidden"' in field.group(0) and "data-browser-time-zone" in field.group(0)


def test_a_new_account_takes_the_time_zone_the_browser_sent(client):
    assert _sign_up(client, time_zone="Asia/Ho_Chi_Minh").status_code == 302
    assert User.objects.get(email="new@example.com").time_zone == "Asia/Ho_Chi_Minh"


def test_an_old_name_a_browser_still_uses_is_stored_as_the_current_one(client):
    _sign_up(client, time_zone="Asia/Calcutta")  # what Chrome says in India
    assert User.objects.get(email="new@example.com").time_zone == "Asia/Kolkata"


@pytest.mark.parametrize("sent", ["Mars/Olympus", "", "../../etc/passwd", "x" * 5000,
                                  "Europe/Paris\x00", "Asia/東京", "UTC\n", "Etc/UTC"])
def test_a_time_zone_that_is_not_real_makes_a_utc_account_never_an_error(client, sent):
    response = _sign_up(client, time_zone=sent)
    assert response.status_code == 302  # signed up, on to the confirmation notice
    assert User.objects.get(email="new@example.com").time_zone == "UTC"


def test_without_the_script_the_account_starts_in_utc(client):
    assert _sign_up(client).status_code == 302
    assert User.objects.get(email="new@example.com").time_zone == "UTC"


def test_a_bad_sign_up_stores_nothing_whatever_the_time_zone(client, alice):
    response = client.post(reverse("account_signup"), {
        "email": "new@example.com", "password1": "a long travel password",
        "password2": "another password", "time_zone": "Europe/Paris"})
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()


def test_a_new_account_keeps_the_language_the_visitor_signed_up_in(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    _sign_up(client, time_zone="Asia/Shanghai")
    user = User.objects.get(email="new@example.com")
    assert (user.language, user.time_zone) == ("zh-hans", "Asia/Shanghai")


@pytest.mark.parametrize(("sent", "stored"), [
    ("Europe/Kiev", "Europe/Kyiv"), ("US/Eastern", "America/New_York"), ("UTC", "UTC"),
    ("GMT", "UTC"), ("Etc/GMT-3", "Etc/GMT-3"), (None, "UTC"), (42, "UTC"), (["UTC"], "UTC")])
def test_normalising_a_zone(sent, stored):
    assert time_zone_normalise(sent) == stored


def _preferences_at(when: datetime, client, user) -> str:
    """The preferences page's time-zone list as the customer sees it at `when`."""
    with time_machine.travel(when, tick=False):
        client.force_login(user)
        return _select(client.get(reverse("accounts:preferences")).content.decode())


def _select(page: str) -> str:
    match = re.search(r'<select name="time_zone".*?</select>', page, re.S)
    assert match is not None
    return match.group(0)


def test_the_list_is_grouped_by_region_with_offset_and_city_in_english(client, alice):
    select = _preferences_at(WINTER, client, alice)
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups == ["Africa", "Americas", "Antarctica", "Arctic", "Asia", "Atlantic Ocean",
                      "Australia", "Europe", "Indian Ocean", "Pacific Ocean"]
    assert '<option value="UTC" selected>(UTC+00:00) UTC</option>' in select
    assert '<option value="America/New_York">(UTC\u221205:00) New York</option>' in select
    assert '<option value="Asia/Ho_Chi_Minh">(UTC+07:00) Ho Chi Minh City</option>' in select
    assert '<option value="Asia/Kolkata">(UTC+05:30) Kolkata</option>' in select
    # Each option sits in its own region's group.
    america = select.split('<optgroup label="Americas">')[1].split("</optgroup>")[0]
    assert "America/New_York" in america and "Europe/" not in america
    # Only real zones, each once, and the stored value stays the IANA name.
    values = re.findall(r'<option value="([^"]+)"', select)
    assert len(values) == len(set(values)) == len(offered())


def test_offsets_follow_daylight_saving_time(client, alice):
    select = _preferences_at(SUMMER, client, alice)
    assert '<option value="America/New_York">(UTC\u221204:00) New York</option>' in select
    assert '<option value="Europe/London">(UTC+01:00) London</option>' in select


def test_the_list_reads_in_chinese(client, alice):
    User.objects.filter(pk=alice.pk).update(language="zh-hans")
    select = _preferences_at(WINTER, client, alice)
    assert '<option value="America/New_York">(UTC\u221205:00) 纽约</option>' in select
    assert '<option value="Asia/Ho_Chi_Minh">(UTC+07:00) 胡志明市</option>' in select
    assert '<option value="Asia/Shanghai">(UTC+08:00) 上海</option>' in select


@time_machine.travel(WINTER, tick=False)
def test_each_group_is_ordered_by_offset_then_city():
    with translation.override("en"):
        choices = dict(time_zone_choices()[1:])
    europe = [label for _value, label in choices["Europe"]]
    offsets = [label.split(")")[0] for label in europe]
    assert offsets == sorted(offsets, key=lambda o: int(o[4:7].replace("\u2212", "-")))
    assert europe.index("(UTC+00:00) London") < europe.index("(UTC+01:00) Paris")


def test_picking_a_zone_from_the_list_saves_its_iana_name(alice_client, alice):
    response = alice_client.post(reverse("accounts:preferences"), {
        "language": "en", "time_zone": "Asia/Ho_Chi_Minh", "currency": "USD"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.time_zone == "Asia/Ho_Chi_Minh"


def test_a_zone_not_in_the_list_is_refused(alice_client, alice):
    for bad in ("Mars/Olympus", "Etc/GMT+5", "x" * 200):
        response = alice_client.post(reverse("accounts:preferences"), {
            "language": "en", "time_zone": bad, "currency": "USD"})
        assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.time_zone == "UTC"


def test_an_old_accounts_zone_outside_the_list_is_kept_when_the_page_is_saved(
        alice_client, alice):
    User.objects.filter(pk=alice.pk).update(time_zone="US/Eastern")
    select = _select(alice_client.get(reverse("accounts:preferences")).content.decode())
    assert '<optgroup label="Other">' in select and 'value="US/Eastern" selected' in select
    response = alice_client.post(reverse("accounts:preferences"), {
        "language": "en", "time_zone": "US/Eastern", "currency": "EUR"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.time_zone, alice.currency) == ("US/Eastern", "EUR")
