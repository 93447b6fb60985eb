"""The help centre: every article in both languages, search in the reader's language,
the numbers the articles state taken from settings, and the links to it from the pages
where each question comes up."""

import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from billing.models import FAILURE_EXPLANATIONS, Order, Payment
from support import help
from tests.factories import BundleFactory, ESimFactory, OrderFactory, PlanFactory

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _ in settings.LANGUAGES]


def in_language(client, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("slug", [article.slug for article in help.ARTICLES])
def test_every_article_renders_and_ends_in_contact_support(client, slug, language):
    article = help.article_get(slug)
    response = in_language(client, language).get(reverse("help:article", args=[slug]))
    assert response.status_code == 200
    page = response.content.decode()
    with translation.override(language):
        assert str(article.title) in page
        contact = str(translation.gettext("Still stuck? Contact support"))
    assert contact in page
    assert f'{reverse("support:ticket_new")}?help={slug}' in page
    body = text_of(response)
    # Real content, not a stub (Chinese says the same in far fewer characters).
    assert len(body) > {"en": 600, "zh-hans": 300}[language]
    assert "{{" not in page and "{%" not in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_index_lists_every_article_by_topic(client, language):
    page = in_language(client, language).get(reverse("help:index")).content.decode()
    for article in help.ARTICLES:
        assert reverse("help:article", args=[article.slug]) in page
    assert 'role="search"' in page


def test_an_unknown_article_is_a_404(client):
    assert client.get("/help/no-such-article/").status_code == 404
    assert client.get("/help/%2e%2e/").status_code == 404


def test_only_get_is_allowed(client):
    assert client.post(reverse("help:index")).status_code == 405
    assert client.post(reverse("help:article", args=["receipts"])).status_code == 405


@pytest.mark.parametrize(("query", "slug"), [
    ("auto-renewal", "auto-renewal"),
    ("how do I switch off auto renewal", "auto-renewal"),
    ("refund", "refund-unused"),
    ("forgot password", "forgotten-password"),
    ("*#06#", "device-compatibility"),
    ("receipt PDF", "receipts"),
    ("top up", "renewal-periods"),
    ("card declined", "failed-payments"),
    ("install android", "install-android"),
    ("ＥＳＩＭ ＩＰＨＯＮＥ", "install-iphone"),  # full-width letters are folded
    ("changing the language", "change-language"),
])
def test_search_finds_the_article_that_answers(client, query, slug):
    response = client.get(reverse("help:index"), {"q": query})
    assert response.status_code == 200
    results = response.context["results"]
    assert results and results[0].slug == slug, [a.slug for a in results]
    assert reverse("help:article", args=[slug]) in response.content.decode()


def test_search_in_chinese_looks_at_the_chinese_text(client):
    """Whatever text is active in Chinese (translated or not yet), searching for an
    article's title in Chinese finds it, and Chinese is matched without spaces."""
    in_language(client, "zh-hans")
    for slug in ("auto-renewal", "refund-unused", "install-iphone"):
        with translation.override("zh-hans"):
            title = str(help.article_get(slug).title)
        results = client.get(reverse("help:index"), {"q": title}).context["results"]
        assert slug in [a.slug for a in results], (title, results)
    with translation.override("zh-hans"):
        title = str(help.article_get("auto-renewal").title)
        if any("\u4e00" <= ch <= "\u9fff" for ch in title):  # translated: 自动续费…
            run = "".join(ch for ch in title if "\u4e00" <= ch <= "\u9fff")[:4]
            assert "auto-renewal" in [a.slug for a in help.help_search(run)]
    assert help._terms("自动续费怎么关") == ["自动", "动续", "续费", "费怎", "怎么", "么关"]
    assert help._terms("eSIM安装") == ["安装", "esim"]


@pytest.mark.parametrize("query", [
    "x" * 5000, "<script>alert(1)</script>", "\x00\x01\x1b[31m", "%00", "' OR 1=1 --",
    "???", "   ", "🙂" * 50, "a b c d e f g h i j k l m n o p q r s t u v w x y z",
])
def test_hostile_queries_get_a_page_never_an_error(client, query):
    response = client.get(reverse("help:index"), {"q": query})
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert" not in page
    assert len(response.context["query"]) <= help.QUERY_MAX_CHARS
    assert "\x00" not in response.context["query"]


def test_no_result_and_empty_states(client):
    response = client.get(reverse("help:index"), {"q": "zebra carburettor"})
    assert response.context["results"] == []
    page = text_of(response)
    assert "Nothing found for “zebra carburettor”" in page
    assert "Ask us" in page
    empty = client.get(reverse("help:index"), {"q": ""})
    assert empty.context["results"] is None  # no search: the topics, no result block
    assert 'id="help-results"' not in empty.content.decode()
    several = client.get(reverse("help:index") + "?q=refund&q=receipt")
    assert several.status_code == 200 and several.context["query"] == "receipt"
    broken = client.get(reverse("help:index") + "?q=%FF%FE%80refund%00")  # not UTF-8
    assert broken.status_code == 200
    assert [a.slug for a in broken.context["results"]] == ["refund-unused"]


def test_articles_state_this_portals_settings(client, settings):
    settings.AUTO_RENEW_LEAD_HOURS = 36
    settings.AUTO_RENEW_DATA_PERCENT = 80
    settings.AUTO_RENEW_NOTICE_DAYS = 5
    settings.AUTO_RENEW_RETRY_DAYS = [2.0, 4.0, 6.5]
    settings.SELF_REFUND_DAYS = 10
    settings.ACTIVATION_SLOW_AFTER_MINUTES = 25
    auto = text_of(client.get(reverse("help:article", args=["auto-renewal"])))
    assert "charge the renewal 36 hours before the running plan ends" in auto
    assert "as soon as 80% of its data is used" in auto
    assert "We email you 5 days before each charge" in auto
    assert "try again 2, 4 and 6.5 days after the first attempt: 4 attempts in all" in auto
    refund = text_of(client.get(reverse("help:article", args=["refund-unused"])))
    assert "within 10 days of buying it" in refund
    slow = text_of(client.get(reverse("help:article", args=["activation-delays"])))
    assert "has not finished 25 minutes after you paid" in slow
    # Search reads the same numbers: its cached text follows the settings.
    assert help.help_search("36 hours")[0].slug == "auto-renewal"
    settings.AUTO_RENEW_LEAD_HOURS = 48
    assert not any(a.slug == "auto-renewal" for a in help.help_search("36 hours"))

    settings.SELF_REFUND_DAYS = 0
    refund = text_of(client.get(reverse("help:article", args=["refund-unused"])))
    assert "handled by our support team" in refund and "within 0" not in refund


def test_the_failed_payments_article_explains_every_failure_the_portal_shows(client):
    page = text_of(client.get(reverse("help:article", args=["failed-payments"])))
    for explanation in FAILURE_EXPLANATIONS.values():
        assert f"“{explanation}”" in page
    assert f"“{Payment(failure_code='declined').explanation}”" in page


def test_every_help_link_in_the_templates_names_an_article():
    used = set()
    for template in (Path(settings.BASE_DIR) / "templates").rglob("*.html"):
        used |= set(re.findall(r'{%\s*help_link\s+"([^"]+)"', template.read_text()))
        used |= set(re.findall(r"{%\s*url 'help:article' '([^']+)'", template.read_text()))
    assert used, "no help links found"
    assert used <= {article.slug for article in help.ARTICLES}, used


def test_help_link_says_the_articles_question_and_never_breaks_a_page():
    template = Template('{% load help %}{% help_link "receipts" %}|{% help_link "nope" %}')
    html, missing = template.render(Context()).split("|")
    href = reverse("help:article", args=["receipts"])
    assert html.startswith(f'<a class="help-link" href="{href}">')
    assert 'aria-hidden="true"' in html and "<span>About receipts</span>" in html
    assert missing == ""
    custom = Template('{% load help %}{% help_link "renewal-periods" "Why?" %}')
    assert "<span>Why?</span>" in custom.render(Context())


def test_the_header_and_footer_link_to_the_help_centre(client):
    page = client.get(reverse("plans:catalogue")).content.decode()
    assert page.count(f'href="{reverse("help:index")}"') >= 2


def help_href(slug):
    return f'href="{reverse("help:article", args=[slug])}"'


def test_pages_link_to_the_answer_where_the_question_comes_up(alice_client, alice):
    bundle = BundleFactory(esim__owner=alice)
    esim = bundle.esim
    PlanFactory(code="jp-1gb", name="1 GB more", is_topup=True)
    pages = {
        reverse("esims:dashboard"): ["data-and-expiry", "several-devices"],
        reverse("billing:renew", args=[esim.pk]): ["renewal-periods"],
        reverse("billing:topup", args=[esim.pk]): ["renewal-periods"],
        reverse("esims:install", args=[esim.pk]): ["install-iphone", "install-android"],
        reverse("renewals:settings", args=[esim.pk]): ["auto-renewal"],
        reverse("billing:receipts"): ["receipts"],
    }
    for url, slugs in pages.items():
        page = alice_client.get(url).content.decode()
        for slug in slugs:
            assert help_href(slug) in page, (url, slug)

    activating = OrderFactory(customer=alice, status=Order.Status.ACTIVATING,
                              paid_at=timezone.now() - timedelta(minutes=2),
                              esim=ESimFactory(owner=alice, iccid=None))
    page = alice_client.get(reverse("billing:order", args=[activating.number])).content.decode()
    assert help_href("activation-delays") in page
    declined = OrderFactory(customer=alice, kind=Order.Kind.RENEWAL, esim=esim)
    Payment.objects.create(order=declined, gateway="simulated", amount_minor=800,
                           currency="USD", status=Payment.Status.FAILED,
                           failure_code="insufficient_funds")
    page = alice_client.get(reverse("billing:pay", args=[declined.number])).content.decode()
    assert "The card has insufficient funds." in page and help_href("failed-payments") in page


def test_a_query_in_the_other_language_still_finds_the_article(client):
    """A Chinese reader on the English pages types 自动续费 (and the other way round):
    nothing matches in the page's language, so the other language is searched, and the
    article is shown in the page's language."""
    in_language(client, "en")
    response = client.get(reverse("help:index"), {"q": "自动续费"})
    assert "auto-renewal" in [a.slug for a in response.context["results"]]
    assert 'lang="en"' in response.content.decode()
    in_language(client, "zh-hans")
    results = client.get(reverse("help:index"), {"q": "auto-renewal"}).context["results"]
    assert "auto-renewal" in [a.slug for a in results]


def test_the_extend_form_speaks_the_agents_language():
    from support.staff_forms import ExtendForm

    with translation.override("zh-hans"):
        hint = str(ExtendForm().fields["days"].help_text)
    with translation.override("en"):
        assert str(ExtendForm().fields["days"].help_text).startswith("1 to 90 days")
    assert not hint.startswith("1 to")
