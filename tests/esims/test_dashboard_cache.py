"""The dashboard's page cache: a cached page is only ever served to the customer it was
rendered for, and nothing a visitor can vary at will grows the cache."""

import pickle
import uuid

import pytest
from django.core.cache import caches
from django.urls import reverse

from tests.factories import BundleFactory

pytestmark = pytest.mark.django_db


def frame_for_the_viewer(request):
    """Stands for anything customer-specific in the page frame (the signed-in email in
    the header, say): here the footer's support address names the viewer."""
    if not request.user.is_authenticated:
        return {}
    return {"support_email": f"help+{request.user.email.split('@')[0]}@example.com"}


@pytest.fixture
def frame_names_the_viewer(settings):
    engine = {**settings.TEMPLATES[0]}
    engine["OPTIONS"] = {**engine["OPTIONS"], "context_processors": [
        *engine["OPTIONS"]["context_processors"],
        f"{__name__}.frame_for_the_viewer"]}
    settings.TEMPLATES = [engine, *settings.TEMPLATES[1:]]


def cached_pages():
    """What the cards cache holds, unpickled (locmem stores pickles)."""
    cache = caches["cards"]
    return [pickle.loads(value) for value in cache._cache.values()]  # noqa: S301 (our own)


def dashboard(client, query=""):
    response = client.get(reverse("esims:dashboard") + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("with_esims", [False, True])
def test_a_cached_page_is_never_served_to_another_customer(
        frame_names_the_viewer, client, alice, bob, with_esims):
    if with_esims:
        # Identical cards apart from whose they are.
        for owner in (alice, bob):
            BundleFactory(esim__owner=owner, esim__nickname="Phone")
    client.force_login(alice)
    assert "help+alice@example.com" in dashboard(client)
    assert "help+alice@example.com" in dashboard(client)  # now from the cache
    client.force_login(bob)
    page = dashboard(client)
    assert "help+bob@example.com" in page
    assert "alice" not in page


def test_a_query_string_a_visitor_makes_up_adds_nothing_to_the_cache(alice_client, alice):
    BundleFactory(esim__owner=alice, esim__nickname="Phone")
    first = dashboard(alice_client)
    cache = caches["cards"]
    entries = len(cache._cache)
    for _ in range(50):
        page = dashboard(alice_client, f"?x={uuid.uuid4().hex}")
        assert "Phone" in page and 'class="card esim"' in page
    assert len(cache._cache) == entries
    assert page.replace(page.split('name="csrfmiddlewaretoken" value="')[1][:64], "") == (
        first.replace(first.split('name="csrfmiddlewaretoken" value="')[1][:64], ""))


def test_the_page_never_shows_a_query_string_it_was_first_asked_with(alice_client, alice):
    BundleFactory(esim__owner=alice)
    marker = uuid.uuid4().hex
    assert marker not in dashboard(alice_client, f"?x={marker}")
    assert marker not in dashboard(alice_client)


def test_a_page_with_a_flash_message_is_neither_cached_nor_replayed(client, alice, bob):
    for owner in (alice, bob):
        BundleFactory(esim__owner=owner, esim__nickname="Phone")
    client.force_login(alice)
    dashboard(client)  # cached without a message
    esim = alice.esims.get()
    response = client.post(reverse("esims:rename", args=[esim.pk]),
                           {"nickname": "Work phone"}, follow=True)
    assert "Renamed to" in response.content.decode()
    assert not any("Renamed to" in page for page in cached_pages())
    assert "Renamed to" not in dashboard(client)
    client.force_login(bob)
    assert "Renamed to" not in dashboard(client)
