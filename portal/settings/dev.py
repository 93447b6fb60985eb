"""Settings for a laptop: `make run`. Debug on, everything embedded."""

from .base import *  # noqa: F403
from .env import env_bool

DEBUG = env_bool("DEBUG", True)
ALLOW_SIMULATED_PAYMENTS = env_bool("ALLOW_SIMULATED_PAYMENTS", True)
