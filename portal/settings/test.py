"""Fast, deterministic settings for the test suite.

PostgreSQL is used when it answers (as in CI, where it always runs); otherwise SQLite,
and the run says so in its header. Tasks run eagerly unless a test starts a real worker.
"""

import os

from portal.probe import tcp_reachable

from .base import *  # noqa: F403
from .env import env_db

if os.environ.get("TEST_DATABASE_URL"):
    DATABASES = {"default": env_db("TEST_DATABASE_URL", "")}
elif os.environ.get("TEST_SQLITE") != "1" and tcp_reachable("127.0.0.1", 5432):
    DATABASES = {"default": env_db("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")}

SECRET_KEY = "test-secret-key"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SMS_BACKEND = "locmem"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
          "cards": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "test-cards"}}
ALLOW_SIMULATED_PAYMENTS = True
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CARRIER_TIMEOUT_SECONDS = 2.0
# Tests that need the carrier start a simulator (tests/conftest.py); the rest must never
# reach a real one, even if `make run` is up on this machine.
CARRIER_URL = "http://127.0.0.1:9"
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Passkeys are tested over http (the test client, the live server on 127.0.0.1).
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
