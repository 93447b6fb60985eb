from typing import ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField


class ValidityKind(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class CoverageScope(models.TextChoices):
    COUNTRY = "country", _("Single country")
    REGION = "region", _("Region")
    GLOBAL = "global", _("Global")


class Plan(models.Model):
    """An entry of the catalogue. Name, description, coverage name and fair-use note are
    translated with django-modeltranslation (see plans/translation.py)."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    coverage_name = models.CharField(_("coverage"), max_length=120,
                                     help_text=_('e.g. "Japan" or "Europe (35 countries)"'))
    coverage_scope = models.CharField(_("coverage scope"), max_length=10,
                                      choices=CoverageScope.choices)
    countries = CountryField(_("countries"), multiple=True, blank=True)
    validity_days = models.PositiveIntegerField(_("validity (days)"),
                                                validators=[MinValueValidator(1)])
    validity_kind = models.CharField(_("validity kind"), max_length=10,
                                     choices=ValidityKind.choices)
    data_mb = models.PositiveIntegerField(_("data (MB)"), null=True, blank=True,
                                          help_text=_("Empty means unlimited."))
    fair_use_note = models.CharField(_("fair-use note"), max_length=255, blank=True)
    voice_minutes = models.PositiveIntegerField(_("voice minutes"), null=True, blank=True)
    sms_count = models.PositiveIntegerField(_("SMS"), null=True, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    is_auto_renewable = models.BooleanField(_("can be auto-renewed"), default=True)
    is_topup = models.BooleanField(_("top-up"), default=False,
                                   help_text=_("Adds data to the current period."))
    data_rolls_over = models.BooleanField(_("unused data rolls over"), default=False)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # modeltranslation swaps in a manager of a class made at run time, which django-stubs
    # cannot find; typed here (Django still makes the default `objects`).
    objects: ClassVar[models.Manager["Plan"]]

    class Meta:
        ordering = ["sort_order", "validity_days", "data_mb"]
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        indexes = [
            models.Index(fields=["sort_order", "validity_days"], name="plan_active_idx",
                         condition=models.Q(is_active=True, is_topup=False)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(data_mb__isnull=True) | models.Q(data_mb__gt=0),
                name="plan_data_positive_or_unlimited"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_unlimited(self) -> bool:
        return self.data_mb is None

    @property
    def data_bytes(self) -> int | None:
        return None if self.data_mb is None else self.data_mb * 1024 * 1024


class PlanPrice(models.Model):
    """A plan's price in one currency, in integer minor units (cents, fen)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(_("currency"), max_length=3)
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"),
                                               validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(fields=["plan", "currency"], name="planprice_one_per_currency"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0),
                                   name="planprice_amount_positive"),
        ]

    def __str__(self):
        return f"{self.plan.code} {self.currency} {self.amount_minor}"
