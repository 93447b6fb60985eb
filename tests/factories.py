from datetime import timedelta
from typing import cast

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from billing.models import Order
from esims.models import Bundle, ESim
from plans.models import Plan, PlanPrice


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def verified(obj, create, extracted, **kwargs):
        obj.save()
        if create and extracted is not False:
            EmailAddress.objects.create(user=obj, email=obj.email, verified=True, primary=True)


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    coverage_name = "Japan"
    coverage_scope = "country"
    countries = ["JP"]
    validity_days = 7
    validity_kind = "week"
    data_mb = 3 * 1024

    @factory.post_generation
    def prices(obj, create, extracted, **kwargs):
        if not create:
            return
        for currency, amount in (extracted or {"USD": 800, "EUR": 750, "CNY": 5800}).items():
            PlanPrice.objects.create(plan=obj, currency=currency, amount_minor=amount)


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    customer = factory.SubFactory(UserFactory)
    plan = factory.SubFactory(PlanFactory)
    kind = Order.Kind.NEW_ESIM
    nickname = "My phone"
    currency = "USD"
    amount_minor = 800
    idempotency_key = factory.Faker("uuid4")
    status = Order.Status.PENDING_PAYMENT
    # The timestamps the status needs (Order.Meta.constraints), unless given.
    paid_at = factory.LazyAttribute(
        lambda o: None if o.status == Order.Status.PENDING_PAYMENT else timezone.now())
    completed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == Order.Status.COMPLETED else None)
    failed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == Order.Status.FAILED else None)
    refunded_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == Order.Status.REFUNDED else None)


class ESimFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ESim

    owner = factory.SubFactory(UserFactory)
    nickname = factory.Sequence(lambda n: f"Device {n}")
    state = ESim.State.INSTALLED
    iccid = factory.Sequence(lambda n: f"89882470000{n:08d}")
    smdp_address = "smdp.carrier-sim.example"
    matching_id = factory.Sequence(lambda n: f"MATCH-{n:06d}")
    # Dated as its state needs (the constraints in esims/models.py).
    ready_at = factory.LazyAttribute(
        lambda esim: None if esim.state == ESim.State.PROVISIONING else timezone.now())
    installed_at = factory.LazyAttribute(
        lambda esim: timezone.now() if esim.state in (
            ESim.State.INSTALLED, ESim.State.SUSPENDED, ESim.State.EXPIRED) else None)


class BundleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bundle

    esim = factory.SubFactory(ESimFactory)
    order = factory.SubFactory(OrderFactory, customer=factory.SelfAttribute("..esim.owner"),
                               status=Order.Status.COMPLETED, esim=factory.SelfAttribute("..esim"))
    plan = factory.SelfAttribute("order.plan")
    plan_code = factory.SelfAttribute("plan.code")
    plan_name = factory.SelfAttribute("plan.name")
    validity_days = 7
    data_allowance_bytes = 3 * 1024 ** 3
    data_used_bytes = 1024 ** 3
    state = Bundle.State.ACTIVE
    carrier_reference = factory.SelfAttribute("order.number")
    starts_at = factory.LazyFunction(timezone.now)
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


def paid_new_esim_order(customer, plan: Plan | None = None) -> Order:
    """An order for a new eSIM just paid: its eSIM and bundle exist, not yet activated."""
    from esims.services import esim_create_for_order

    extra = {"plan": plan} if plan is not None else {}
    # factory-boy's __new__ returns the created model; mypy sees the factory class.
    order = cast(Order, OrderFactory(customer=customer, status=Order.Status.PAID,
                                     paid_at=timezone.now(), **extra))
    order.esim = esim_create_for_order(order=order)
    order.save(update_fields=["esim"])
    return order


def auto_renewing_esim(owner, *, behaviour: str = "success", ends_in=timedelta(hours=12),
                       plan: Plan | None = None) -> ESim:
    """An installed eSIM whose running plan ends soon, with auto-renewal on and a card
    saved at the simulated gateway that answers as `behaviour` says."""
    from billing.models import PaymentMethod, SimulatedCard
    from esims.services import esim_renewal_schedule

    # factory-boy's __new__ returns the created model; mypy sees the factory class.
    bundle = cast(Bundle, BundleFactory(esim__owner=owner, ends_at=timezone.now() + ends_in,
                                        **({"order__plan": plan} if plan is not None else {})))
    card = SimulatedCard.objects.create(reference=f"simcard_{bundle.pk}", return_url="/",
                                        saved=True, behaviour=behaviour)
    method = PaymentMethod.objects.create(
        customer=owner, gateway="simulated", setup_reference=card.reference,
        reference=card.reference, status=PaymentMethod.Status.ACTIVE, brand="visa",
        last4=card.last4, exp_month=12, exp_year=2030, saved_at=timezone.now())
    ESim.objects.filter(pk=bundle.esim_id).update(
        auto_renew=True, auto_renew_since=timezone.now(), renewal_plan=bundle.plan,
        renewal_payment_method=method)
    esim_renewal_schedule(esim_id=bundle.esim_id)
    return ESim.objects.get(pk=bundle.esim_id)
