"""The help centre: its articles, and search over them in the reader's language.

An article is a template under templates/help/articles/<slug>.html holding its body, and
an entry in ARTICLES below with its title, the short question other pages link it by
(`{% help_link "<slug>" %}`, support/templatetags/help.py), a summary and the words
people search for. Every text is translated like any other page: the body with
`{% blocktranslate %}`, the rest with gettext_lazy.

Numbers an article states (hours before a renewal is charged, days for a refund, ...)
come from settings through `help_facts`, never written into the text, so the help says
what this portal does.

Search looks for the reader's words in the active language's title, keywords, summary
and body of each article. Each article's text is rendered once per language and per
value of the settings it shows, then kept in memory (`_article_text`).
"""

import functools
import html
import re
import unicodedata
from dataclasses import dataclass

from babel.lists import format_list
from django.conf import settings
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.functional import Promise
from django.utils.html import strip_tags
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import FAILURE_EXPLANATIONS, Payment
from portal.formatting import babel_locale

# The longest search kept (characters) and the most words looked for: a longer query is
# cut, never refused, and costs no more than this.
QUERY_MAX_CHARS = 100
QUERY_MAX_TERMS = 12


@dataclass(frozen=True)
class Topic:
    code: str
    title: Promise


@dataclass(frozen=True)
class Article:
    slug: str
    topic: str
    title: Promise
    # What a link from another page says ("How is the new period counted?").
    question: Promise
    summary: Promise
    # Other words for the same thing, comma-separated, in each language.
    keywords: Promise
    related: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        return f"help/articles/{self.slug}.html"


TOPICS = (
    Topic("start", _("Getting started")),
    Topic("plan", _("Your plan and data")),
    Topic("payments", _("Renewals and payments")),
    Topic("account", _("Your account")),
)

ARTICLES = (
    Article(
        "device-compatibility", "start",
        _("Will an eSIM work on my phone?"),
        _("Will it work on my phone?"),
        _("Your phone needs to support eSIM and be unlocked. How to check in a minute."),
        pgettext_lazy("help search words",
                      "compatible, compatibility, supported phones, unlocked, carrier lock, "
                      "EID, *#06#, digital SIM, which phone, device"),
        ("install-iphone", "install-android")),
    Article(
        "install-iphone", "start",
        _("Installing your eSIM on an iPhone"),
        _("Help installing on iPhone"),
        _("With the one-tap link, the QR code, or by typing the code in by hand."),
        pgettext_lazy("help search words",
                      "install, iPhone, iOS, QR code, scan, one-tap, activation code, "
                      "SM-DP+, set up, cellular, mobile service"),
        ("install-android", "device-compatibility", "activation-delays")),
    Article(
        "install-android", "start",
        _("Installing your eSIM on Android"),
        _("Help installing on Android"),
        _("On Pixel, Samsung and other Android phones: QR code, one-tap link or the "
          "full code."),
        pgettext_lazy("help search words",
                      "install, Android, Samsung, Pixel, Galaxy, QR code, scan, "
                      "activation code, LPA, set up, download SIM"),
        ("install-iphone", "device-compatibility", "activation-delays")),
    Article(
        "activation-delays", "start",
        _("“Paid, preparing at the carrier”: what it means"),
        _("Why is this taking a while?"),
        _("What happens after you pay, and what to do when it takes longer than usual."),
        pgettext_lazy("help search words",
                      "activating, activation, preparing, carrier, pending, slow, stuck, "
                      "waiting, order status, longer than usual, not working"),
        ("failed-payments", "refund-unused")),
    Article(
        "several-devices", "start",
        _("Several devices on one account"),
        _("Several devices on one account"),
        _("One eSIM per device, each with its own plan, renewals and name."),
        pgettext_lazy("help search words",
                      "devices, multiple, second phone, tablet, iPad, family, nickname, "
                      "rename, move eSIM, new phone, transfer"),
        ("renewal-periods", "install-iphone")),
    Article(
        "using-abroad", "start",
        _("Using your eSIM in another country"),
        _("Using your eSIM abroad"),
        _("Where a plan works, the settings to turn on when you land, and managing it "
          "from anywhere."),
        pgettext_lazy("help search words",
                      "abroad, travel, roaming, data roaming, country, region, coverage, "
                      "overseas, time zone, currency, calls, SMS"),
        ("device-compatibility", "data-and-expiry")),
    Article(
        "data-and-expiry", "plan",
        _("Checking your remaining data and expiry"),
        _("How are data and days counted?"),
        _("Where to see what is left, how fresh the figure is, and the reminders we send."),
        pgettext_lazy("help search words",
                      "remaining data, data left, usage, used, expiry, expires, end date, "
                      "days left, valid until, balance, alerts, reminders"),
        ("renewal-periods", "auto-renewal")),
    Article(
        "renewal-periods", "plan",
        _("How renewal periods are counted"),
        _("How is the new period counted?"),
        _("A renewal never shortens what you paid for; a top-up adds data, not days."),
        pgettext_lazy("help search words",
                      "renew, renewal, period, queued, starts, extend, top-up, top up, "
                      "add data, expired, start date, end date, validity"),
        ("auto-renewal", "data-and-expiry")),
    Article(
        "refund-unused", "plan",
        _("Refunds of an unused eSIM"),
        _("Can I get a refund?"),
        _("Cancel an eSIM no device has downloaded yet and get your money back."),
        pgettext_lazy("help search words",
                      "refund, cancel, money back, unused, not installed, changed my mind, "
                      "credit note, return"),
        ("receipts", "activation-delays")),
    Article(
        "auto-renewal", "payments",
        _("Auto-renewal, and how to switch it off"),
        _("How does auto-renewal work?"),
        _("When we charge, how we tell you, what happens when a charge fails, and how to "
          "stop it."),
        pgettext_lazy("help search words",
                      "auto-renewal, auto renew, automatic renewal, subscription, "
                      "recurring, cancel, switch off, turn off, stop, saved card, charge"),
        ("renewal-periods", "failed-payments")),
    Article(
        "failed-payments", "payments",
        _("Failed payments and what each reason means"),
        _("Why did the payment fail?"),
        _("What the message on the payment page means, and what to do about it."),
        pgettext_lazy("help search words",
                      "payment failed, declined, card declined, insufficient funds, "
                      "expired card, 3-D Secure, authentication, bank, error, charged twice"),
        ("auto-renewal", "receipts")),
    Article(
        "receipts", "payments",
        _("Receipts and credit notes"),
        _("About receipts"),
        _("Where to download a receipt for every paid order, and what a refund gives you."),
        pgettext_lazy("help search words",
                      "receipt, invoice, PDF, VAT, tax, download, credit note, bill, expense"),
        ("refund-unused", "failed-payments")),
    Article(
        "forgotten-password", "account",
        _("I forgot my password"),
        _("Forgot your password?"),
        _("Set a new one from a link we email you."),
        pgettext_lazy("help search words",
                      "password, forgot, forgotten, reset, sign in, log in, login, "
                      "can't sign in, locked out, two-factor"),
        ("change-language", "close-account")),
    Article(
        "change-language", "account",
        _("Changing the language"),
        _("Change the language"),
        _("English or Simplified Chinese, for the pages, emails and texts."),
        pgettext_lazy("help search words",
                      "language, Chinese, English, 中文, translate, emails, time zone"),
        ("forgotten-password", "data-and-expiry")),
    Article(
        "close-account", "account",
        _("Closing your account and downloading your data"),
        _("Close your account"),
        _("Take a copy of everything we hold about you, and close the account for good."),
        pgettext_lazy("help search words",
                      "close account, delete account, remove account, download data, "
                      "export, personal data, privacy, GDPR, erase"),
        ("receipts", "auto-renewal")),
)

_BY_SLUG = {article.slug: article for article in ARTICLES}


def article_get(slug: str) -> Article:
    """An article by its slug; anything else is a 404."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise Http404("No such help article") from None


def article_find(slug: str) -> Article | None:
    return _BY_SLUG.get(slug)


def articles_by_topic() -> list[tuple[Topic, list[Article]]]:
    return [(topic, [a for a in ARTICLES if a.topic == topic.code]) for topic in TOPICS]


def articles_related(article: Article) -> list[Article]:
    return [_BY_SLUG[slug] for slug in article.related]


def _settings_shown() -> tuple:
    """Every setting an article shows: part of the key of each article's cached text."""
    return (settings.AUTO_RENEW_LEAD_HOURS, settings.AUTO_RENEW_DATA_PERCENT,
            settings.AUTO_RENEW_NOTICE_DAYS, tuple(settings.AUTO_RENEW_RETRY_DAYS),
            settings.ACTIVATION_SLOW_AFTER_MINUTES, settings.ACTIVATION_GIVE_UP_AFTER_HOURS,
            settings.SELF_REFUND_DAYS, settings.USAGE_POLL_MINUTES,
            tuple(settings.REMINDER_DAYS), tuple(settings.DATA_ALERT_PERCENTS),
            settings.SUPPORT_EMAIL)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def help_facts() -> dict[str, object]:
    """The settings the articles state, ready to print in the active language."""
    locale = babel_locale()
    retry_days = [_number(d) for d in settings.AUTO_RENEW_RETRY_DAYS]
    return {
        "lead_hours": settings.AUTO_RENEW_LEAD_HOURS,
        "data_percent": settings.AUTO_RENEW_DATA_PERCENT,
        "notice_days": settings.AUTO_RENEW_NOTICE_DAYS,
        "retry_days": format_list(retry_days, locale=locale) if retry_days else "",
        "retry_count": len(retry_days),
        "attempts": len(retry_days) + 1,
        "slow_minutes": settings.ACTIVATION_SLOW_AFTER_MINUTES,
        "give_up_hours": settings.ACTIVATION_GIVE_UP_AFTER_HOURS,
        "self_refund_days": settings.SELF_REFUND_DAYS,
        "usage_poll_minutes": settings.USAGE_POLL_MINUTES,
        "reminder_days": format_list([str(d) for d in settings.REMINDER_DAYS], locale=locale),
        "data_alert_percents": format_list([f"{p}%" for p in settings.DATA_ALERT_PERCENTS],
                                           locale=locale),
        "support_email": settings.SUPPORT_EMAIL,
    }


def article_context(article: Article) -> dict[str, object]:
    """What an article's template is rendered with, on its page and for search."""
    return {"article": article, "facts": help_facts(),
            # What the payment page says for each failure, word for word.
            "payment_failures": {code: str(text) for code, text in FAILURE_EXPLANATIONS.items()},
            "generic_failure": Payment(failure_code="").explanation}


def article_body(article: Article) -> str:
    return render_to_string(article.template, article_context(article))


@functools.lru_cache(maxsize=len(ARTICLES) * 8)
def _article_text(slug: str, language: str, shown: tuple) -> tuple[str, str, str]:
    """(title, keywords, summary and body) of an article as plain searchable text in a
    language, for these settings' values. Kept in memory: rendered once per language
    (and again only when a setting it shows changes)."""
    article = _BY_SLUG[slug]
    with translation.override(language):
        body = html.unescape(strip_tags(article_body(article)))
        return (_fold(str(article.title)), _fold(str(article.keywords)),
                _fold(f"{article.summary} {body}"))


def _fold(text: str) -> str:
    """The form both the query and the text are compared in: compatibility characters
    folded (full-width letters, ligatures), case ignored, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def query_clean(raw: str | None) -> str:
    """A search query as typed, made safe to keep and show: no control characters,
    spaces collapsed, at most QUERY_MAX_CHARS characters."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(text.split())[:QUERY_MAX_CHARS]


# Words so common in questions that they would match every article.
_STOP_WORDS = frozenset((
    "a", "an", "and", "are", "at", "be", "can", "do", "does", "for", "from", "get", "how",
    "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "the", "to", "what", "when",
    "where", "which", "why", "will", "with", "you", "your"))
_WORD = re.compile(r"[^\W_]+(?:['’*#+-]*[^\W_]+)*[#]?|[*#][\d#*]+")
# Scripts written without spaces between words: searched by pairs of characters.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


# Endings taken off a longer word, so that it is found in its other forms: "changing"
# finds "change", "refunds" finds "refund" (words are matched at their start).
_ENDINGS = ("ing", "ed", "es", "s", "e")


def _stem(term: str) -> str:
    if len(term) <= 4 or _CJK.search(term) or not term.isalpha():
        return term
    for ending in _ENDINGS:
        if term.endswith(ending):
            return term[:-len(ending)]
    return term


def _terms(query: str) -> list[str]:
    words = _WORD.findall(_fold(query))
    terms: list[str] = []
    for word in words:
        for run in _CJK.findall(word):
            terms += [run] if len(run) <= 2 else [run[i:i + 2] for i in range(len(run) - 1)]
        terms += [piece for piece in _CJK.sub(" ", word).split() if len(piece) > 1]
    meaningful = [t for t in terms if t not in _STOP_WORDS] or terms
    meaningful = [_stem(t) for t in meaningful]
    return list(dict.fromkeys(meaningful))[:QUERY_MAX_TERMS]


def _occurrences(term: str, text: str) -> int:
    """How often a word of the query appears: inside any word for the scripts written
    without spaces; elsewhere at the start of a word ("renew" finds "renewal", "script"
    does not find "subscription"), and as a whole word when it is one or two letters."""
    if _CJK.match(term):
        return text.count(term)
    pattern = r"(?<![^\W_])" + re.escape(term) + (r"(?![^\W_])" if len(term) <= 2 else "")
    return len(re.findall(pattern, text))


def help_search(query: str) -> list[Article]:
    """The articles that answer a query, best first: searched in the active language,
    then, when nothing is found there, in the other languages (a Chinese reader of the
    English pages types 自动续费; the articles are still shown in the page's language).

    An article is found when it holds at least half of the query's words (all of them
    for a query of one or two words). Those holding more of them come first, then those
    holding them in the title, the keywords, and most often in the text, and those holding
    them together as typed; articles scoring less than a quarter of the best one are left
    out."""
    terms = _terms(query)
    if not terms:
        return []
    active = translation.get_language() or settings.LANGUAGE_CODE
    for language in [active] + [code for code, _name in settings.LANGUAGES if code != active]:
        if found := _search_in(query, terms, language):
            return found
    return []


def _search_in(query: str, terms: list[str], language: str) -> list[Article]:
    needed = len(terms) if len(terms) <= 2 else (len(terms) + 1) // 2
    phrase = _fold(query) if len(terms) > 1 else ""
    shown = _settings_shown()
    scored = []
    for position, article in enumerate(ARTICLES):
        title, keywords, text = _article_text(article.slug, language, shown)
        weights = [6 * min(_occurrences(t, title), 1) + 3 * min(_occurrences(t, keywords), 1)
                   + min(_occurrences(t, text), 5) for t in terms]
        found = sum(1 for weight in weights if weight)
        if phrase:  # the words together, as typed
            weights.append(12 * (phrase in title or phrase in keywords) + 4 * (phrase in text))
        if found >= needed:
            scored.append((found, sum(weights), position, article))
    if not scored:
        return []
    best = max(weight for found, weight, _, _ in scored)
    scored.sort(key=lambda entry: (-entry[0], -entry[1], entry[2]))
    return [article for _, weight, _, article in scored if 4 * weight >= best]
