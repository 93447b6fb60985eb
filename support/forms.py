import re
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from billing.models import Order
from billing.selectors import order_get_for_customer
from esims.models import ESim
from esims.selectors import esim_get_for_owner

from .attachments import screenshot_check
from .help import Article, article_find


class ScreenshotField(forms.FileField):
    """An optional screenshot: a checked `attachments.Screenshot`, or None."""

    widget = forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"})

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Screenshot (optional)"))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        return screenshot_check(upload) if upload else None


def _screenshot_help() -> str:
    """Said beside the field, with this portal's size limit."""
    return gettext("A PNG, JPEG or WebP image of what you see, at most %(max)s.") % {
        "max": filesizeformat(settings.SUPPORT_ATTACHMENT_MAX_BYTES)}


@dataclass(frozen=True)
class About:
    """What a ticket is about: one of the customer's eSIMs or orders, or nothing."""

    esim: ESim | None = None
    order: Order | None = None

    @property
    def value(self) -> str:
        if self.order is not None:
            return f"order:{self.order.number}"
        return f"esim:{self.esim.pk}" if self.esim is not None else ""

    @property
    def query(self) -> str:
        """The query string that attaches it to a new question (`support:ticket_new`)."""
        if self.order is not None:
            return f"?order={self.order.number}"
        return f"?esim={self.esim.pk}" if self.esim is not None else ""


_ABOUT = re.compile(r"(esim):([0-9]{1,18})|(order):([A-Z0-9-]{1,16})")


def about_parse(*, customer, value: str) -> About:
    """An "about" choice as the form sends it. Another customer's eSIM or order is a 404
    (raised from the owners' lookups); anything malformed a ValidationError."""
    if not value:
        return About()
    match = _ABOUT.fullmatch(value)
    if match is None:
        raise forms.ValidationError(_("Choose one of your eSIMs or orders."), code="invalid")
    if match[1]:
        return About(esim=esim_get_for_owner(owner=customer, pk=int(match[2])))
    return About(order=order_get_for_customer(customer=customer, number=match[4]))


def about_choices(*, esims, orders, about: About) -> list:
    """The select's options: nothing, then each eSIM by name, then each order by number,
    plan and date (the one already chosen among them, however old)."""
    orders = list(orders)
    if about.order is not None and about.order not in orders:
        orders.insert(0, about.order)
    return [
        ("", _("Nothing in particular")),
        (_("Your eSIMs"), [(f"esim:{esim.pk}", esim.nickname) for esim in esims]),
        (_("Your orders"), [
            (f"order:{order.number}",
             f"{order.number} · {order.plan.name} · "
             f"{formats.date_format(order.created_at, 'SHORT_DATE_FORMAT')}")
            for order in orders]),
    ]


class TicketForm(forms.Form):
    about = forms.CharField(label=_("About"), required=False,
                            widget=forms.Select(choices=()))
    subject = forms.CharField(label=_("Subject"), max_length=200, strip=True)
    body = forms.CharField(label=_("How can we help?"), widget=forms.Textarea(attrs={"rows": 5}),
                           max_length=5000, strip=True)
    screenshot = ScreenshotField()
    # The help article the customer came from, if any.
    help = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, customer, esims=(), orders=(), about: About | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["screenshot"].help_text = _screenshot_help()
        self.customer = customer
        self.fields["about"].widget.choices = about_choices(
            esims=esims, orders=orders, about=about or About())

    def clean_about(self) -> About:
        return about_parse(customer=self.customer, value=self.cleaned_data["about"])

    def clean_help(self) -> Article | None:
        slug = self.cleaned_data["help"]
        if not slug:
            return None
        article = article_find(slug)
        if article is None:
            raise forms.ValidationError(_("That help article does not exist."),
                                        code="invalid")
        return article


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 4}),
                           max_length=5000, strip=True)
    screenshot = ScreenshotField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["screenshot"].help_text = _screenshot_help()
