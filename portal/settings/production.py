"""Settings for a real deployment: secrets are mandatory and every cookie is secure."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import PUBLISHED_SECRETS, SECRET_MIN_LENGTH
from .env import env_bool, env_int


def _secret_problem(name: str) -> str | None:
    value = os.environ.get(name, "")
    if not value:
        return f"{name} is not set"
    if value in PUBLISHED_SECRETS[name]:
        # One forged carrier callback signed with a published secret charged a saved card.
        return f"{name} is a value published with the portal's source"
    if len(value) < SECRET_MIN_LENGTH[name]:
        return f"{name} is shorter than {SECRET_MIN_LENGTH[name]} characters"
    return None


if _problems := [p for p in map(_secret_problem, SECRET_MIN_LENGTH) if p]:
    raise ImproperlyConfigured(
        "; ".join(_problems) + ". Set each to its own random value, e.g. the output of: "
        'python3 -c "import secrets; print(secrets.token_urlsafe(50))"')

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The carrier calls back over the internal network; a redirect would make it retry forever.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^gsma/rsp2/es2plus/", r"^carrier/callbacks/"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
