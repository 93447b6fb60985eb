from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from plans.models import Plan, PlanPrice
from portal import demo_catalogue as demo
from support.roles import roles_sync, user_make_support_agent

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-esim-2026"  # noqa: S105 (a published demo login)
STAFF_EMAIL = "support@example.com"
STAFF_PASSWORD = "support-esim-2026"  # noqa: S105


class Command(BaseCommand):
    help = "Load a realistic plan catalogue, a demo customer and a support login (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        for sort_order, row in enumerate(demo.PLANS):
            self._plan(sort_order, *row)
        for sort_order, (code, names, mb, prices) in enumerate(demo.TOPUPS, len(demo.PLANS)):
            self._plan(sort_order, code, names, "global", demo.GLOBAL,
                       ("Added to your current plan", "加入当前套餐"), 1, "day", mb, None, None,
                       prices, is_topup=True)
        self._user(DEMO_EMAIL, DEMO_PASSWORD)
        # The support login is a support agent (support/roles.py), not a superuser: it
        # reaches customers, orders, eSIMs and tickets, not the catalogue or permissions.
        roles_sync()
        user_make_support_agent(user=self._user(STAFF_EMAIL, STAFF_PASSWORD))
        self.stdout.write(f"Loaded {len(demo.PLANS)} plans and {len(demo.TOPUPS)} top-ups; "
                          f"demo customer {DEMO_EMAIL} / "
                          f"{DEMO_PASSWORD}; support agent {STAFF_EMAIL} / {STAFF_PASSWORD} "
                          "(signs in at /accounts/login/, then the admin at /staff/).")

    def _plan(self, sort_order, code, names, scope, countries, coverage, days, kind, mb,
              voice, sms, prices, *, is_topup=False):
        if coverage is None:
            coverage = demo.REGIONS[countries[0]]
        fair_use = demo.FAIR_USE if mb is None else ("", "")
        description = demo.TOPUP_DESCRIPTION if is_topup else demo.DESCRIPTION
        plan, _created = Plan.objects.update_or_create(code=code, defaults={
            "name_en": names[0], "name_zh_hans": names[1],
            "coverage_name_en": coverage[0], "coverage_name_zh_hans": coverage[1],
            "description_en": f"{names[0]}. {description[0]}",
            "description_zh_hans": f"{names[1]}。{description[1]}",
            "fair_use_note_en": fair_use[0], "fair_use_note_zh_hans": fair_use[1],
            "coverage_scope": scope, "countries": countries, "validity_days": days,
            "validity_kind": kind, "data_mb": mb, "voice_minutes": voice, "sms_count": sms,
            "is_active": True, "sort_order": sort_order, "is_topup": is_topup,
            "is_auto_renewable": not is_topup,
        })
        for currency, amount in zip(("USD", "EUR", "CNY"), prices, strict=True):
            PlanPrice.objects.update_or_create(plan=plan, currency=currency,
                                               defaults={"amount_minor": amount})

    def _user(self, email, password):
        from allauth.account.models import EmailAddress

        user = get_user_model().objects.filter(email=email).first()
        if user is None:
            user = get_user_model().objects.create_user(email=email, password=password)
        # Both sign in through allauth (staff too), which wants a confirmed address.
        EmailAddress.objects.update_or_create(user=user, email=email,
                                              defaults={"verified": True, "primary": True})
        return user
