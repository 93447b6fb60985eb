"""What the notifications page and the signed landing pages read."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from esims.models import ESim

from .kinds import EMAIL, KIND_CHANNELS, SMS
from .models import ChannelSetting, Notification

# Rows of history per page: a bounded page, whatever is asked.
HISTORY_PAGE_SIZE = 20
# The grid's columns, in order.
CHANNELS = (EMAIL, SMS)


@dataclass(frozen=True)
class Cell:
    channel: str
    offered: bool  # the kind goes out on this channel at all
    on: bool  # the customer's choice, or the default


@dataclass(frozen=True)
class GridRow:
    kind: str
    label: str
    cells: tuple[Cell, ...]


def channel_choices(*, customer) -> dict[tuple[str, str], bool]:
    """(kind, channel) -> on, for every channel each kind goes out on: the customer's
    choice where they made one, else the default (notifications/kinds.py)."""
    chosen = {(kind, channel): enabled for kind, channel, enabled in
              ChannelSetting.objects.filter(customer=customer)
              .values_list("kind", "channel", "enabled")}
    return {(kind, channel): chosen.get((kind, channel), default)
            for kind, channels in KIND_CHANNELS.items()
            for channel, default in channels.items()}


def settings_grid(*, customer) -> list[GridRow]:
    """Each kind of message and, per channel, whether it goes out to this customer."""
    choices = channel_choices(customer=customer)
    labels = dict(Notification.Kind.choices)
    return [GridRow(kind=kind, label=str(labels[kind]), cells=tuple(
        Cell(channel=channel, offered=(kind, channel) in choices,
             on=choices.get((kind, channel), False)) for channel in CHANNELS))
        for kind in KIND_CHANNELS]


def history_page(*, customer, page: str | None) -> Page:
    """The messages asked for this customer, newest first, one bounded page. Any `page`
    a visitor sends reads as a page that exists (the first, or the last)."""
    rows = (Notification.objects.filter(customer=customer)
            .select_related("esim").only("kind", "channel", "status", "created_at",
                                         "sent_at", "next_attempt_at", "esim__nickname")
            .order_by("-created_at", "-pk"))
    return Paginator(rows, HISTORY_PAGE_SIZE).get_page(page)


def alert_esims(*, customer) -> QuerySet[ESim]:
    """The customer's eSIMs whose data alerts they can set."""
    return (ESim.objects.filter(owner=customer).exclude(state=ESim.State.CANCELLED)
            .only("pk", "nickname", "data_alert_percents").order_by("created_at", "pk"))


def customer_for_link(customer_id: int):
    """The customer a signed link names, or None when the account is gone."""
    return get_user_model().objects.filter(pk=customer_id, is_active=True).first()


def esim_for_link(esim_id: int) -> ESim | None:
    """The eSIM a signed link names, with its owner, or None when it is gone."""
    return ESim.objects.select_related("owner").filter(pk=esim_id).first()


def alert_esim_for_owner(*, owner, pk: int) -> ESim:
    """One of the owner's eSIMs for its alerts; anyone else's (or a withdrawn one) is a
    404, never a 403."""
    return get_object_or_404(alert_esims(customer=owner), pk=pk)


def notification_get_for_customer(*, customer, pk: int) -> Notification:
    """One of the customer's own messages; anyone else's is a 404."""
    return get_object_or_404(Notification.objects.select_related(
        "customer", "order__esim", "order__receipt", "order__plan", "ticket_message__ticket",
        "bundle__esim", "payment__order__esim"), customer=customer, pk=pk)
