from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EsimsConfig(AppConfig):
    name = "esims"
    verbose_name = _("eSIMs")
