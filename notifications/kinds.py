"""Which channels each kind of message goes out on, and whether it does unless the
customer says otherwise. Written once: the request side, the preferences page and the
unsubscribe links all read it here."""

from .models import Notification

K = Notification.Kind
EMAIL = Notification.Channel.EMAIL
SMS = Notification.Channel.SMS

# kind -> {channel: on by default}. A kind without SMS here is never texted: a receipt
# or a refund needs the email's detail. SMS goes only to a verified number.
KIND_CHANNELS: dict[str, dict[str, bool]] = {
    K.EXPIRY_REMINDER: {EMAIL: True, SMS: True},
    K.DATA_ALERT: {EMAIL: True, SMS: True},
    K.OUT_OF_DATA: {EMAIL: True, SMS: True},
    K.ESIM_EXPIRED: {EMAIL: True, SMS: True},
    K.RENEWAL_UPCOMING: {EMAIL: True, SMS: False},
    K.PAYMENT_FAILED: {EMAIL: True, SMS: True},
    K.PAYMENT_ACTION_REQUIRED: {EMAIL: True, SMS: True},
    K.AUTO_RENEW_STOPPED: {EMAIL: True, SMS: True},
    K.ESIM_READY: {EMAIL: True, SMS: False},
    K.ORDER_PAID: {EMAIL: True},
    K.SUPPORT_REPLIED: {EMAIL: True, SMS: False},
    K.DUPLICATE_REFUNDED: {EMAIL: True},
}


def channel_default(kind: str, channel: str) -> bool | None:
    """On or off by default; None when the kind never goes out on that channel."""
    return KIND_CHANNELS.get(kind, {}).get(channel)
