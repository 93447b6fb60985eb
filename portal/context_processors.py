from functools import cache

from django.conf import settings
from django.urls import reverse


@cache
def _nav_urls() -> dict[str, str]:
    # The same on every page and for every customer (no language prefixes): reverse once.
    names = {"plans": "plans:catalogue", "esims": "esims:dashboard", "orders": "billing:orders",
             "preferences": "accounts:preferences", "logout": "account_logout",
             "login": "account_login", "signup": "account_signup",
             "set_language": "accounts:set_language", "support": "support:tickets"}
    return {key: reverse(name) for key, name in names.items()}


def portal(request):
    return {
        "support_email": settings.SUPPORT_EMAIL,
        "portal_currencies": settings.PORTAL_CURRENCIES,
        "nav": _nav_urls(),
    }
