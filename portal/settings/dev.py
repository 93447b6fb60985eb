"""Settings for a laptop: `make run`. Debug on, everything embedded."""

from .base import *  # noqa: F403
from .env import env_bool, env_str

DEBUG = env_bool("DEBUG", True)
ALLOW_SIMULATED_PAYMENTS = env_bool("ALLOW_SIMULATED_PAYMENTS", True)
# A demo issuer on receipts (production has none until the operator names one).
RECEIPT_ISSUER_NAME = env_str("RECEIPT_ISSUER_NAME", "eSIM Portal (demo)")
RECEIPT_ISSUER_ADDRESS = env_str("RECEIPT_ISSUER_ADDRESS",
                                 "1 Example Street|10115 Berlin|Germany")
# Passkeys over plain http://127.0.0.1:8000 (browsers allow WebAuthn there; allauth
# checks the origin itself and would refuse anything but https otherwise).
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
