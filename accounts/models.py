import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


def _time_zone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class User(AbstractUser):
    """A customer (or a staff member). The email address is the login."""

    username = None  # type: ignore[assignment]  # removes AbstractUser's field; the stubs say str
    email = models.EmailField(_("email address"), unique=True)
    phone = PhoneNumberField(_("mobile number"), blank=True,
                             help_text=_("For SMS reminders, with country code."))
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES,
                                default=settings.LANGUAGE_CODE)
    time_zone = models.CharField(_("time zone"), max_length=64, choices=_time_zone_choices,
                                 default="UTC")
    currency = models.CharField(_("currency"), max_length=3, default="USD",
                                help_text=_("Prices are shown in this currency."))
    # The mobile number above was proven to be the customer's (a code sent to it by SMS
    # was typed back); emptied whenever the number changes. No SMS goes to a number
    # that is not verified.
    phone_verified_at = models.DateTimeField(_("mobile number verified"), null=True,
                                             blank=True)
    # The email address bounced or was refused for good: no email is sent to it (each
    # message ends failed at once) until the customer changes or confirms it again.
    email_undeliverable_at = models.DateTimeField(_("email address undeliverable since"),
                                                  null=True, blank=True)
    email_undeliverable_reason = models.CharField(_("why the address is undeliverable"),
                                                  max_length=200, blank=True)
    # The customer closed the account: personal data erased, sign-in impossible; the
    # row stays because receipts and orders refer to it.
    closed_at = models.DateTimeField(_("account closed"), null=True, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]  # stubs accept only auth's UserManager

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email


class PhoneVerification(models.Model):
    """A code sent by SMS to prove a mobile number belongs to the customer. Only a hash
    of the code is kept; it expires, allows a few wrong guesses, and sending is limited
    (notifications/phone.py)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE,
                             related_name="phone_verifications")
    phone = PhoneNumberField(_("mobile number"))
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    attempts = models.PositiveSmallIntegerField(_("wrong codes typed"), default=0)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)

    class Meta:
        verbose_name = _("mobile number verification")
        verbose_name_plural = _("mobile number verifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "created_at"], name="phone_verif_user_idx")]

    def __str__(self):
        return f"{self.user} {self.phone} ({self.created_at:%Y-%m-%d %H:%M})"
