from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CarrierConfig(AppConfig):
    name = "carrier"
    verbose_name = _("Carrier")
