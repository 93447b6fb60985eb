"""Settings for a laptop: `make run`. Debug on, everything embedded."""

from .base import *  # noqa: F403
from .env import env_bool

DEBUG = env_bool("DEBUG", True)
ALLOW_SIMULATED_PAYMENTS = env_bool("ALLOW_SIMULATED_PAYMENTS", True)
# Passkeys over plain http://127.0.0.1:8000 (browsers allow WebAuthn there; allauth
# checks the origin itself and would refuse anything but https otherwise).
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
