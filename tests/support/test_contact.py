"""Contacting support from the help centre, an eSIM or an order, with that attached and a
screenshot if the customer likes: what is attached belongs to the customer, a screenshot
is an image checked by its content, and it is shown to nobody but the ticket's customer
and staff allowed to read tickets."""

import io
import os
import struct
import zlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from billing.models import Order
from support.models import Ticket, TicketMessage
from tests.factories import ESimFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW = reverse("support:ticket_new")


# --- Files ------------------------------------------------------------------------------

def image(fmt: str, size=(64, 48), noise=False) -> bytes:
    if noise:
        picture = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        picture = Image.new("RGB", size, (11, 99, 206))
    out = io.BytesIO()
    picture.save(out, fmt)
    return out.getvalue()


def png_bomb(width: int, height: int, rows: int | None = None) -> bytes:
    """A valid greyscale PNG of `width` × `height` black pixels (or only its first
    `rows` rows): a few kilobytes that decode to width × height bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    packer = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(height if rows is None else rows))
    data += packer.flush()
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def upload(name: str, content: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files() -> list[str]:
    found: list[str] = []

    def walk(path: str) -> None:
        try:
            folders, files = default_storage.listdir(path)
        except FileNotFoundError:
            return
        found.extend(f"{path}/{name}" for name in files)
        for folder in folders:
            walk(f"{path}/{folder}")

    walk("tickets")
    return sorted(found)


@pytest.fixture(autouse=True)
def _empty_storage(settings):
    """Each test starts with an empty (in-memory) file store."""
    settings.STORAGES = {**settings.STORAGES}
    yield


@pytest.fixture
def esim(alice):
    return ESimFactory(owner=alice, nickname="Mum's iPad")


@pytest.fixture
def order(alice, esim):
    return OrderFactory(customer=alice, status=Order.Status.COMPLETED, esim=esim)


def ask(client, about="", *, query="", subject="It does not connect",
        body="No data in Lisbon.", **extra):
    return client.post(NEW + query, {"about": about, "subject": subject, "body": body,
                                     **extra})


# --- What a ticket is about -------------------------------------------------------------

def test_from_an_esim_the_form_shows_it_attached_and_the_ticket_is_about_it(
        alice_client, esim):
    page = alice_client.get(NEW, {"esim": esim.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert "About your eSIM “Mum&#x27;s iPad”" in html
    assert f'<option value="esim:{esim.pk}" selected>' in html
    assert page.context["form"]["subject"].value() == "About my eSIM “Mum's iPad”"
    assert f"at most {filesizeformat(5 * 1024 * 1024)}" in html  # the limit, beside the field

    response = ask(alice_client, f"esim:{esim.pk}", query=f"?esim={esim.pk}")
    ticket = Ticket.objects.get()
    assert response["Location"] == reverse("support:ticket", args=[ticket.pk])
    assert (ticket.esim, ticket.order, ticket.customer) == (esim, None, esim.owner)
    detail = alice_client.get(response["Location"]).content.decode()
    assert "About your eSIM “Mum&#x27;s iPad”" in detail


def test_from_an_order_the_ticket_is_about_the_order_and_its_esim(alice_client, order):
    html = alice_client.get(NEW, {"order": order.number}).content.decode()
    assert f"About order {order.number}" in html
    assert f'<option value="order:{order.number}" selected>' in html
    ask(alice_client, f"order:{order.number}")
    ticket = Ticket.objects.get()
    assert ticket.order == order and ticket.esim == order.esim


def test_the_customer_may_choose_another_of_their_own_or_nothing(alice_client, alice, esim,
                                                                 order):
    other = ESimFactory(owner=alice, nickname="Travel phone")
    html = alice_client.get(NEW, {"esim": esim.pk}).content.decode()
    assert f'value="esim:{other.pk}"' in html and f'value="order:{order.number}"' in html
    ask(alice_client, f"esim:{other.pk}", query=f"?esim={esim.pk}")
    assert Ticket.objects.get().esim == other
    ask(alice_client, "", subject="Something else")
    assert Ticket.objects.get(subject="Something else").esim is None


def test_an_old_order_outside_the_list_is_still_offered_when_linked(alice_client, alice):
    from support.selectors import TICKET_ORDER_CHOICES

    old = OrderFactory(customer=alice, created_at=timezone.now() - timedelta(days=400))
    OrderFactory.create_batch(TICKET_ORDER_CHOICES, customer=alice)
    html = alice_client.get(NEW, {"order": old.number}).content.decode()
    assert f'<option value="order:{old.number}" selected>' in html


def test_another_customers_esim_or_order_is_a_404_and_nothing_is_opened(
        client, bob, esim, order):
    client.force_login(bob)
    assert client.get(NEW, {"esim": esim.pk}).status_code == 404
    assert client.get(NEW, {"order": order.number}).status_code == 404
    assert ask(client, f"esim:{esim.pk}").status_code == 404
    assert ask(client, f"order:{order.number}").status_code == 404
    assert ask(client, "", query=f"?esim={esim.pk}").status_code == 404
    assert not Ticket.objects.exists()
    html = client.get(NEW).content.decode()
    assert "Mum&#x27;s iPad" not in html and order.number not in html


@pytest.mark.parametrize("query", ["?esim=abc", "?esim=-1", "?esim=99999999", "?order=nope",
                                   "?order=ES-NOTHERE", "?help=no-such-article",
                                   "?esim=" + "9" * 40])
def test_malformed_or_unknown_attachments_in_the_address_are_404(alice_client, query):
    assert alice_client.get(NEW + query).status_code == 404


@pytest.mark.parametrize("about", ["esim:", "esim:abc", "order:lower-case", "nothing:1",
                                   "esim:1:2", "x" * 500])
def test_a_tampered_about_value_is_a_form_error(alice_client, about):
    response = ask(alice_client, about)
    assert response.status_code == 200
    assert "Choose one of your eSIMs or orders." in response.content.decode()
    assert not Ticket.objects.exists()


def test_anonymous_visitors_sign_in_first(client, esim):
    response = client.get(NEW, {"esim": esim.pk})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_from_a_help_article_the_question_says_which(alice_client):
    url = reverse("help:article", args=["auto-renewal"])
    article_page = alice_client.get(url).content.decode()
    assert f'href="{NEW}?help=auto-renewal"' in article_page
    form_page = alice_client.get(NEW, {"help": "auto-renewal"})
    html = form_page.content.decode()
    assert "From the help article" in html and f'href="{url}"' in html
    assert form_page.context["form"]["subject"].value() == "Auto-renewal, and how to switch it off"
    ask(alice_client, "", query="?help=auto-renewal", help="auto-renewal",
        subject="Switched off but charged?", body="I switched it off yesterday.")
    body = TicketMessage.objects.get().body
    assert body.startswith("I switched it off yesterday.")
    assert "Sent from the help article “Auto-renewal, and how to switch it off”" in body
    assert body.endswith(url)
    bad = ask(alice_client, "", help="no-such-article", subject="x2")
    assert bad.status_code == 200 and "That help article does not exist." in bad.content.decode()
    assert Ticket.objects.count() == 1


# --- One click twice makes one ticket -----------------------------------------------------

def test_a_question_sent_twice_opens_one_ticket(alice_client, esim):
    first = ask(alice_client, f"esim:{esim.pk}")
    second = ask(alice_client, f"esim:{esim.pk}")
    assert first["Location"] == second["Location"]
    assert Ticket.objects.count() == 1 and TicketMessage.objects.count() == 1
    ask(alice_client, f"esim:{esim.pk}", body="Now it says SIM not supported.")
    assert Ticket.objects.count() == 2  # a different question is a new ticket


def test_about_an_order_its_open_ticket_gets_the_new_message(alice_client, order):
    ask(alice_client, f"order:{order.number}")
    ask(alice_client, f"order:{order.number}")  # a double click
    ask(alice_client, f"order:{order.number}", body="Any news?")
    ticket = Ticket.objects.get()
    assert list(ticket.messages.values_list("body", flat=True)) == [
        "No data in Lisbon.", "Any news?"]


def test_the_order_pages_one_click_and_the_form_share_the_orders_ticket(alice_client, alice):
    slow = OrderFactory(customer=alice, status=Order.Status.ACTIVATING,
                        paid_at=timezone.now() - timedelta(hours=1),
                        esim=ESimFactory(owner=alice, iccid=None))
    alice_client.post(reverse("support:ticket_about_order", args=[slow.number]))
    alice_client.post(reverse("support:ticket_about_order", args=[slow.number]))
    ask(alice_client, f"order:{slow.number}", body="I am at the airport now.")
    ticket = Ticket.objects.get()
    assert ticket.order == slow and ticket.messages.count() == 2


# --- Screenshots ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "name", "extension", "content_type"), [
    ("PNG", "Screenshot 2026-03-01 at 10.00.00.png", "png", "image/png"),
    ("JPEG", "IMG_0001.JPG", "jpg", "image/jpeg"),
    ("WEBP", "shot.webp", "webp", "image/webp"),
])
def test_a_real_image_is_stored_under_a_random_name_and_shown_to_its_customer(
        alice_client, esim, fmt, name, extension, content_type):
    content = image(fmt)
    response = ask(alice_client, f"esim:{esim.pk}",
                   screenshot=upload(name, content, "application/octet-stream"))
    assert response.status_code == 302
    message = TicketMessage.objects.get()
    stored = message.attachment.name
    assert stored.startswith(f"tickets/{timezone.now():%Y/%m}/")
    assert stored.endswith(f".{extension}")
    assert name.rsplit(".", 1)[0] not in stored  # nothing of the customer's name in the path
    assert message.attachment_name == name.rsplit(".", 1)[0] + f".{extension}"
    assert stored_files() == [stored]

    url = reverse("support:ticket_attachment", args=[message.pk])
    page = alice_client.get(response["Location"]).content.decode()
    assert f'src="{url}"' in page
    served = alice_client.get(url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == content
    assert served["Content-Type"] == content_type
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline; filename=")
    assert "sandbox" in served["Content-Security-Policy"]
    assert served["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(("name", "content", "content_type"), [
    ("shell.png", b"<?php system($_GET['c']); ?>", "image/png"),
    ("page.png", b"<!doctype html><script>alert(document.cookie)</script>", "image/png"),
    ("polyglot.png", b"\x89PNG\r\n\x1a\n<?php echo 1; ?>" + b"\0" * 64, "image/png"),
    ("animated.gif", image("GIF"), "image/gif"),
    ("renamed.png", image("GIF"), "image/png"),
    ("picture.bmp", image("BMP"), "image/bmp"),
    ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
     "image/svg+xml"),
    ("truncated.png", image("PNG", noise=True)[:600], "image/png"),
    ("empty.png", b"", "image/png"),
])
def test_anything_but_a_png_jpeg_or_webp_is_refused_and_nothing_is_stored(
        alice_client, esim, name, content, content_type):
    response = ask(alice_client, f"esim:{esim.pk}",
                   screenshot=upload(name, content, content_type))
    assert response.status_code == 200
    errors = response.context["form"].errors["screenshot"]
    assert errors and ("PNG, JPEG or WebP" in errors[0] or "empty" in errors[0]), errors
    assert "PNG, JPEG or WebP" in response.content.decode() or "empty" in errors[0]
    assert not Ticket.objects.exists() and stored_files() == []


def test_a_file_over_the_size_limit_is_refused(alice_client, esim, settings):
    settings.SUPPORT_ATTACHMENT_MAX_BYTES = 4096
    content = image("PNG", size=(120, 120), noise=True)
    assert len(content) > 4096
    response = ask(alice_client, f"esim:{esim.pk}", screenshot=upload("big.png", content))
    assert response.status_code == 200
    assert response.context["form"].errors["screenshot"] == [
        f"This file is larger than {filesizeformat(4096)}. Take a smaller screenshot, or "
        "crop it."]
    assert not Ticket.objects.exists() and stored_files() == []


@pytest.mark.parametrize(("width", "height", "rows"), [
    (6000, 5000, None),     # 30 million pixels in 30 KB: over the portal's own limit
    (12000, 12000, 16),     # over Pillow's warning threshold
    (100000, 100000, 4),    # over Pillow's hard limit
    (25000, 10, None),      # too wide
])
def test_a_decompression_bomb_is_refused_before_it_is_decoded(alice_client, esim, width,
                                                              height, rows):
    bomb = png_bomb(width, height, rows)
    assert len(bomb) < 200_000
    response = ask(alice_client, f"esim:{esim.pk}", screenshot=upload("bomb.png", bomb))
    assert response.status_code == 200
    error = response.context["form"].errors["screenshot"][0]
    assert error.startswith("This image is too large"), error
    assert not Ticket.objects.exists() and stored_files() == []


def test_a_screenshot_can_come_with_a_later_reply(alice_client, esim):
    ask(alice_client, f"esim:{esim.pk}")
    ticket = Ticket.objects.get()
    url = reverse("support:ticket", args=[ticket.pk])
    refused = alice_client.post(url, {"body": "Here it is.",
                                      "screenshot": upload("x.gif", image("GIF"), "image/gif")})
    assert refused.status_code == 200 and ticket.messages.count() == 1
    assert "PNG, JPEG or WebP" in refused.content.decode()
    content = image("PNG")
    alice_client.post(url, {"body": "Here it is.", "screenshot": upload("error.png", content)})
    alice_client.post(url, {"body": "Here it is.", "screenshot": upload("error.png", content)})
    reply = ticket.messages.get(body="Here it is.")  # a double click makes one reply
    assert reply.attachment_name == "error.png" and len(stored_files()) == 1


# --- Who may see a screenshot ------------------------------------------------------------------

@pytest.fixture
def screenshot_message(alice_client, esim):
    ask(alice_client, f"esim:{esim.pk}", screenshot=upload("mine.png", image("PNG")))
    return TicketMessage.objects.get()


def test_the_screenshot_is_a_404_for_anyone_but_its_customer_and_staff_who_read_tickets(
        screenshot_message, bob):
    url = reverse("support:ticket_attachment", args=[screenshot_message.pk])
    assert Client().get(url).status_code == 404  # signed out
    stranger = Client()
    stranger.force_login(bob)
    assert stranger.get(url).status_code == 404
    staff_without_permission = Client()
    staff_without_permission.force_login(UserFactory(is_staff=True))
    assert staff_without_permission.get(url).status_code == 404
    customer_with_permission = Client()  # a permission is for staff only
    reader = UserFactory()
    reader.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    customer_with_permission.force_login(reader)
    assert customer_with_permission.get(url).status_code == 404

    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    staff = Client()
    staff.force_login(agent)
    served = staff.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert staff.post(url).status_code == 405


def test_a_message_without_a_screenshot_has_none_to_serve(alice_client, esim):
    ask(alice_client, f"esim:{esim.pk}")
    message = TicketMessage.objects.get()
    url = reverse("support:ticket_attachment", args=[message.pk])
    assert alice_client.get(url).status_code == 404
    assert alice_client.get("/support/screenshots/999999/").status_code == 404


# --- Where the links are -----------------------------------------------------------------------

def test_each_esim_and_each_order_links_to_contact_support(alice_client, alice, esim, order):
    dashboard = alice_client.get(reverse("esims:dashboard")).content.decode()
    assert f'href="{NEW}?esim={esim.pk}"' in dashboard
    install = alice_client.get(reverse("esims:install", args=[esim.pk])).content.decode()
    assert f'href="{NEW}?esim={esim.pk}"' in install
    order_page = alice_client.get(reverse("billing:order", args=[order.number])).content.decode()
    assert f'href="{NEW}?order={order.number}"' in order_page
