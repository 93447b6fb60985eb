"""Settings shared by every environment, read from environment variables.

Every variable is listed with its default in .env.example. With nothing set, the portal
runs on embedded defaults: SQLite files and a broker kept in files under var/.
"""

import json
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_db, env_email, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Secret values this repository publishes: the first of each is the embedded default
# that development runs on; the rest were once handed out (.env.example's placeholder,
# the Dockerfile's build-time key) and may have been copied. Anyone can read them, so
# production settings refuse every one, and anything shorter than its minimum length.
PUBLISHED_SECRETS = {
    "SECRET_KEY": (
        "dev-only-insecure-key-change-me",
        "replace-me-insecure-example-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "build-only-collectstatic-key-not-used-at-run-time-0123456789",
    ),
    "CARRIER_API_KEY": ("dev-carrier-key",),
    "CARRIER_CALLBACK_SECRET": ("dev-callback-secret",),
}
SECRET_MIN_LENGTH = {"SECRET_KEY": 50, "CARRIER_API_KEY": 32, "CARRIER_CALLBACK_SECRET": 32}

SECRET_KEY = env_str("SECRET_KEY", PUBLISHED_SECRETS["SECRET_KEY"][0])
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The portal's public address, used in emails and in the links the carrier calls back.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "modeltranslation",  # must precede django.contrib.admin
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "auditlog",
    "django_countries",
    "phonenumber_field",
    "django_celery_beat",
    "anymail",
    "portal",
    "accounts",
    "plans",
    "esims",
    "billing",
    "carrier",
    "support",
    "renewals",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.CustomerPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # Changes saved during a request are recorded with who made them (portal/audit.py).
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {"default": env_db("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file on a laptop: wait for locks instead of
    # failing, and take the write lock up front so two writers never deadlock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "esims:dashboard"
LOGIN_URL = "account_login"

# django-allauth: email is the login, it must be confirmed, and guessing is rate-limited.
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PORTAL_BASE_URL.startswith("https") else "http"
ACCOUNT_RATE_LIMITS = {
    "login": env_str("LOGIN_RATE_LIMIT", "30/m/ip"),
    "login_failed": env_str("LOGIN_FAILED_RATE_LIMIT", "10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
    # Not allauth's own: "download my data" builds a file of everything held about the
    # customer (accounts/views.py), a few times an hour at most.
    "export_data": "5/h/user",
}
# A new account takes the browser's time zone (accounts/forms.py).
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupTimeZoneForm"
# Behind a reverse proxy, allauth must read the client's address from X-Forwarded-For,
# or every customer shares the proxy's login rate limit.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "eSIM Portal")
# Passkeys: a security key or the phone's own (WebAuthn) as a second factor, and, when
# added as "passwordless", to sign in with no password at all. Browsers allow WebAuthn
# only over https (and on localhost); dev and test settings accept http://127.0.0.1.
MFA_PASSKEY_LOGIN_ENABLED = True
# allauth's sessions list shows when and where each session signed in. Tracking every
# request too (last seen, last address) would write to the database on every page a
# signed-in customer opens: off.
USERSESSIONS_TRACK_ACTIVITY = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["portal.formats"]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files people upload (screenshots on support tickets). Never served at a public URL:
# each is read back through a view that checks who asks (support/views.py).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CACHES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Rendered dashboard cards are keyed by a digest of their content, so a copy in each
# process's memory is never stale; it spares the hottest page a round trip to Redis.
_CARDS_CACHE: dict[str, object] = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "esim-cards", "TIMEOUT": 24 * 3600,
                "OPTIONS": {"MAX_ENTRIES": env_int("CARD_CACHE_ENTRIES", 20000, minimum=100)}}
CACHES["cards"] = _CARDS_CACHE
REDIS_URL = env_str("REDIS_URL", "-")
if REDIS_URL != "-":
    # allauth's rate limits live in the cache: shared across web processes only with Redis.
    CACHES = {"default": {"BACKEND": "portal.cache.SharedClientRedisCache",
                          "LOCATION": REDIS_URL}, "cards": _CARDS_CACHE}
    # Sessions read from Redis, written through to the database: no session query per page.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

_email = env_email("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "eSIM Portal <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# An email provider instead of SMTP, by settings alone (django-anymail): EMAIL_BACKEND
# names its backend, e.g. anymail.backends.postmark.EmailBackend, and ANYMAIL_SETTINGS
# is its JSON settings, e.g. {"POSTMARK_SERVER_TOKEN": "..."}. Unset: EMAIL_URL decides.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "") or EMAIL_BACKEND
try:
    ANYMAIL = json.loads(env_str("ANYMAIL_SETTINGS", "") or "{}")
except ValueError as exc:
    raise ImproperlyConfigured("ANYMAIL_SETTINGS must be a JSON object.") from exc
if not isinstance(ANYMAIL, dict):
    raise ImproperlyConfigured("ANYMAIL_SETTINGS must be a JSON object.")
# The provider's bounce webhook (<PORTAL_BASE_URL>/webhooks/email/<esp>/tracking/) asks
# for this "user:password" by HTTP basic auth. Unset, a random one nobody knows: the
# webhook then refuses every call rather than believe anyone (anymail alone would).
ANYMAIL["WEBHOOK_SECRET"] = (env_str("EMAIL_WEBHOOK_SECRET", "")
                             or ANYMAIL.get("WEBHOOK_SECRET")
                             or f"closed:{secrets.token_urlsafe(32)}")

# Celery. With no broker configured, messages travel through files under var/broker so
# that web, worker and beat on one laptop need no server.
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    for _folder in ("queue", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        # Exchange tables (broadcasts, remote control): kombu's default is ./control,
        # wherever the process happens to start.
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The sweeps beat starts, with how often each runs by default (seconds). They are rows
# of django-celery-beat's tables, edited in the admin: portal/schedules.py makes any row
# that is missing at every `migrate` and never changes an existing row's interval or on/off.
# Beat itself is handed no schedule, since its DatabaseScheduler would write these over
# the admin's edits at every start.
SWEEPS = {
    "activation-sweep": {
        "task": "billing.tasks.order_activation_sweep",
        "seconds": env_int("ACTIVATION_SWEEP_SECONDS", 60, minimum=5),
    },
    "payment-reconcile-sweep": {
        "task": "billing.tasks.payment_reconcile_sweep",
        "seconds": 60,
    },
    "notification-sweep": {
        "task": "notifications.tasks.notification_sweep",
        "seconds": 300,
    },
    "usage-poll-sweep": {
        "task": "carrier.tasks.usage_poll_sweep",
        "seconds": 60,
    },
    "gateway-event-sweep": {
        "task": "billing.tasks.gateway_event_sweep",
        "seconds": 300,
    },
    "renewal-sweep": {
        "task": "renewals.tasks.renewal_sweep",
        "seconds": env_int("RENEWAL_SWEEP_SECONDS", 60, minimum=1),
    },
    "renewal-notice-sweep": {
        "task": "renewals.tasks.renewal_notice_sweep",
        "seconds": 300,
    },
    "reminder-sweep": {
        "task": "notifications.tasks.reminder_sweep",
        "seconds": env_int("REMINDER_SWEEP_SECONDS", 300, minimum=5),
    },
}
CELERY_BEAT_SCHEDULE: dict = {}

# The carrier: ES2+ for profiles, a reseller-style API for bundles; see carrier/client.py.
CARRIER_URL = env_str("CARRIER_URL", "http://127.0.0.1:8100").rstrip("/")
CARRIER_API_KEY = env_str("CARRIER_API_KEY", PUBLISHED_SECRETS["CARRIER_API_KEY"][0])
CARRIER_CALLBACK_SECRET = env_str("CARRIER_CALLBACK_SECRET",
                                  PUBLISHED_SECRETS["CARRIER_CALLBACK_SECRET"][0])
CARRIER_REQUESTER_ID = env_str("CARRIER_REQUESTER_ID", "esim-portal")
CARRIER_TIMEOUT_SECONDS = env_float("CARRIER_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# How long a paid order may wait at the carrier before the page says "longer than usual".
ACTIVATION_SLOW_AFTER_MINUTES = env_int("ACTIVATION_SLOW_AFTER_MINUTES", 10, minimum=1)
# A paid order still not activated after this long stops retrying and is flagged to support.
ACTIVATION_GIVE_UP_AFTER_HOURS = env_int("ACTIVATION_GIVE_UP_AFTER_HOURS", 48, minimum=1)

# Auto-renewal (docs/renewals.md). The renewal is charged this long before the running
# plan ends (at most half the plan's length), or once this share of its data is used.
AUTO_RENEW_LEAD_HOURS = env_int("AUTO_RENEW_LEAD_HOURS", 24, minimum=1)
AUTO_RENEW_DATA_PERCENT = env_int("AUTO_RENEW_DATA_PERCENT", 90, minimum=50)
if AUTO_RENEW_DATA_PERCENT > 100:
    raise ImproperlyConfigured("AUTO_RENEW_DATA_PERCENT must be at most 100.")
# The customer is told this many days before the charge.
AUTO_RENEW_NOTICE_DAYS = env_int("AUTO_RENEW_NOTICE_DAYS", 3, minimum=1)
# A failed charge is tried again this many days after the first attempt, in order; after
# the last, auto-renewal switches off and the customer is told.
try:
    AUTO_RENEW_RETRY_DAYS = sorted(float(d) for d in env_list("AUTO_RENEW_RETRY_DAYS",
                                                              ["1", "3"]))
except ValueError as exc:
    raise ImproperlyConfigured("AUTO_RENEW_RETRY_DAYS: comma-separated days, e.g. 1,3") from exc
if any(d <= 0 for d in AUTO_RENEW_RETRY_DAYS):
    raise ImproperlyConfigured("AUTO_RENEW_RETRY_DAYS must be positive numbers of days.")

# Stripe, the real gateway (billing/gateways/stripe.py). The keys come from the Stripe
# dashboard; the webhook secret from the endpoint registered there for /webhooks/stripe/.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
# Blank: Stripe's own API. The tests point it at a local fake (localstripe).
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "").rstrip("/")
# Stripe requires Stripe.js to be loaded from Stripe, never bundled or proxied: it is the
# one script on the portal's pages that the portal does not serve itself.
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")
STRIPE_PAYMENT_METHODS = env_list("STRIPE_PAYMENT_METHODS", ["card"])
_STRIPE_METHODS_SUPPORTED = ("card", "alipay", "wechat_pay", "paypal")
if _unknown := [m for m in STRIPE_PAYMENT_METHODS if m not in _STRIPE_METHODS_SUPPORTED]:
    raise ImproperlyConfigured(
        f"STRIPE_PAYMENT_METHODS: {', '.join(_unknown)} not supported; use any of "
        f"{', '.join(_STRIPE_METHODS_SUPPORTED)}.")

# The payment gateway. "simulated" moves no money and lets anyone "pay", so outside
# development it must be allowed explicitly (a demo); otherwise payments are refused.
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY", "stripe" if STRIPE_SECRET_KEY else "simulated")
if PAYMENT_GATEWAY not in ("simulated", "stripe"):
    raise ImproperlyConfigured(f"PAYMENT_GATEWAY={PAYMENT_GATEWAY!r}: use simulated or stripe.")
if PAYMENT_GATEWAY == "stripe":
    for _name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        if not globals()[_name]:
            raise ImproperlyConfigured(f"PAYMENT_GATEWAY=stripe needs {_name} to be set.")
ALLOW_SIMULATED_PAYMENTS = env_bool("ALLOW_SIMULATED_PAYMENTS", False)

PORTAL_CURRENCIES = env_list("PORTAL_CURRENCIES", ["USD", "EUR", "CNY"])
PORTAL_DEFAULT_CURRENCY = env_str("PORTAL_DEFAULT_CURRENCY", PORTAL_CURRENCIES[0])
SUPPORT_EMAIL = env_str("SUPPORT_EMAIL", "support@localhost")
# Who issues receipts: the operator's legal name and address ("|" separates lines), and
# a tax or company registration number where the law wants one on receipts. No defaults:
# `check --deploy` warns while they are unset or placeholders (portal/checks.py).
RECEIPT_ISSUER_NAME = env_str("RECEIPT_ISSUER_NAME", "")
RECEIPT_ISSUER_ADDRESS = env_str("RECEIPT_ISSUER_ADDRESS", "")
RECEIPT_ISSUER_TAX_ID = env_str("RECEIPT_ISSUER_TAX_ID", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# One retry policy for every task that calls an outside system (portal/tasks.py): wait
# TASK_RETRY_BACKOFF_SECONDS, then twice as long each time up to the cap, at most
# TASK_RETRY_MAX_ATTEMPTS times. Messages that could not be sent back off the same way.
TASK_RETRY_BACKOFF_SECONDS = env_int("TASK_RETRY_BACKOFF_SECONDS", 30, minimum=1)
TASK_RETRY_BACKOFF_MAX_SECONDS = env_int("TASK_RETRY_BACKOFF_MAX_SECONDS", 3600, minimum=1)
TASK_RETRY_MAX_ATTEMPTS = env_int("TASK_RETRY_MAX_ATTEMPTS", 10, minimum=1)
# A message that could not be sent is tried this many times in all, then marked failed
# (visible under Notifications in admin).
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 10, minimum=1)


def _int_list(name: str, raw: list[str], *, low: int, high: int) -> list[int]:
    try:
        values = sorted({int(v) for v in raw}, reverse=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: comma-separated whole numbers") from exc
    if not values or not all(low <= v <= high for v in values):
        raise ImproperlyConfigured(f"{name}: each between {low} and {high}")
    return values


# Reminders (docs/notifications.md). Expiry reminders this many days before the end of
# an eSIM's last paid period; data alerts at these percents of the running plan used
# (each customer may set their own per eSIM); no SMS between these hours, in the
# customer's time zone (held until the end; START == END: no quiet hours).
REMINDER_DAYS = _int_list("REMINDER_DAYS", env_list("REMINDER_DAYS", ["30", "7", "1"]),
                          low=1, high=365)
DATA_ALERT_PERCENTS = sorted(_int_list(
    "DATA_ALERT_PERCENTS", env_list("DATA_ALERT_PERCENTS", ["75", "90"]), low=1, high=99))
SMS_QUIET_HOURS_START = env_int("SMS_QUIET_HOURS_START", 21, minimum=0)
SMS_QUIET_HOURS_END = env_int("SMS_QUIET_HOURS_END", 8, minimum=0)
if SMS_QUIET_HOURS_START > 23 or SMS_QUIET_HOURS_END > 23:
    raise ImproperlyConfigured("SMS_QUIET_HOURS_START and _END are hours, 0 to 23.")
# How often the reminder sweep runs.
REMINDER_SWEEP_SECONDS = env_int("REMINDER_SWEEP_SECONDS", 300, minimum=5)
# Usage: the feed asks the carrier about every eSIM with a running plan this often, a
# hundred eSIMs to a call; a report dated further ahead than this is refused.
USAGE_POLL_MINUTES = env_int("USAGE_POLL_MINUTES", 15, minimum=1)
USAGE_REPORT_MAX_AHEAD_SECONDS = env_int("USAGE_REPORT_MAX_AHEAD_SECONDS", 300, minimum=0)

# SMS (notifications/sms.py): "console" prints texts (development), "twilio" sends them
# with Twilio's API; another provider is one class there.
SMS_BACKEND = env_str("SMS_BACKEND", "console")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
# A sender number in E.164, or a Messaging Service SID (MG...).
TWILIO_FROM = env_str("TWILIO_FROM", "")
if SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM):
    raise ImproperlyConfigured(
        "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM.")
# Mobile number checks: a code lives this long, this many may be sent an hour, and this
# many wrong guesses end it.
PHONE_CODE_MINUTES = env_int("PHONE_CODE_MINUTES", 10, minimum=1)
PHONE_CODE_SENDS_PER_HOUR = env_int("PHONE_CODE_SENDS_PER_HOUR", 3, minimum=1)
PHONE_CODE_MAX_ATTEMPTS = env_int("PHONE_CODE_MAX_ATTEMPTS", 5, minimum=1)

# Self-service refund: a customer may cancel a new eSIM and get the money back within
# this many days of paying, while no device has downloaded its profile.
SELF_REFUND_DAYS = env_int("SELF_REFUND_DAYS", 14, minimum=0)
# Support's queue: a paid order still not active at the carrier after this long needs a
# person (it is also what the order page calls "longer than usual" at its own setting).
ACTIVATION_STUCK_MINUTES = env_int("ACTIVATION_STUCK_MINUTES", 60, minimum=1)
# A screenshot attached to a support ticket: at most this many bytes.
SUPPORT_ATTACHMENT_MAX_BYTES = env_int("SUPPORT_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024,
                                       minimum=1024)
