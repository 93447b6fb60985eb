"""The Order, Payment and saved-card machines (billing/order_states.py,
billing/payment_states.py, billing/card_states.py): a move the table does not allow is
refused and changes nothing, racing moves move a row once, and the database refuses a
status without the timestamps that go with it."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import services
from billing.card_states import (
    PAYMENT_METHOD,
    card_mark_failed,
    card_mark_removed,
    card_mark_saved,
)
from billing.gateways import SavedCard
from billing.models import Order, Payment, PaymentMethod
from billing.order_states import (
    ORDER,
    order_activation_retry_mark,
    order_fail,
    order_mark_refunded,
    orders_activation_begin,
    orders_complete,
    orders_mark_paid,
)
from billing.payment_states import (
    DUPLICATE,
    PAYMENT,
    PaymentMove,
    payment_fail_uncharged,
    payment_mark_duplicate_refund_refused,
    payment_mark_duplicate_refunded,
    payments_move,
)
from portal.states import TransitionNotAllowed
from tests import services as machine
from tests.billing.test_concurrency import race
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

OS = Order.Status
PS = Payment.Status
CS = PaymentMethod.Status


def snapshot(row):
    """Every column of the row as stored now."""
    return type(row).objects.filter(pk=row.pk).values().get()


def payment_of(order, **fields):
    return Payment.objects.create(order=order, gateway="simulated", currency=order.currency,
                                  amount_minor=order.amount_minor, **fields)


def card_of(customer, **fields):
    return PaymentMethod.objects.create(customer=customer, gateway="simulated",
                                        setup_reference=f"simcard_{customer.pk}", **fields)


SAVED = SavedCard(reference="simcard_saved", brand="visa", last4="4242", exp_month=12,
                  exp_year=2030)


# --- The tables ---------------------------------------------------------------------

def test_each_table_names_every_state_of_its_model_and_no_other():
    for machine_, model in ((ORDER, Order), (PAYMENT, Payment),
                            (PAYMENT_METHOD, PaymentMethod)):
        named = set(machine_.table) | {to for tos in machine_.table.values() for to in tos}
        assert named == set(model.Status.values), machine_.name


def test_a_payment_is_never_cancelled():
    # Nothing ever set it: the state is gone rather than left for a reader to wonder.
    assert "cancelled" not in Payment.Status.values


def test_a_paid_order_ends_completed_or_refunded():
    assert ORDER.table[OS.REFUNDED] == ()
    assert ORDER.table[OS.COMPLETED] == (OS.REFUNDED,)
    assert ORDER.sources(OS.PAID) == (OS.PENDING_PAYMENT,)
    assert set(ORDER.sources(OS.REFUNDED)) == {OS.PAID, OS.ACTIVATING, OS.COMPLETED, OS.FAILED}


# --- Moves the tables refuse change nothing --------------------------------------------

def test_a_pending_order_cannot_be_refunded(alice):
    order = OrderFactory(customer=alice)
    before = snapshot(order)
    with pytest.raises(TransitionNotAllowed, match="is pending_payment: cannot become refunded"):
        order_mark_refunded(order=order, at=timezone.now())
    assert snapshot(order) == before


def test_a_refunded_order_cannot_be_paid(alice):
    order = OrderFactory(customer=alice, status=OS.REFUNDED)
    before = snapshot(order)
    with pytest.raises(TransitionNotAllowed):
        orders_mark_paid(orders=[order], at=timezone.now())
    assert snapshot(order) == before


def test_a_batch_of_orders_is_paid_all_or_not_at_all(alice):
    pending, paid = OrderFactory(customer=alice), OrderFactory(customer=alice, status=OS.PAID)
    before = snapshot(pending), snapshot(paid)
    with pytest.raises(TransitionNotAllowed), transaction.atomic():
        orders_mark_paid(orders=[pending, paid], at=timezone.now())
    assert (snapshot(pending), snapshot(paid)) == before


def test_a_failed_order_cannot_be_completed(alice):
    order = OrderFactory(customer=alice, status=OS.FAILED)
    before = snapshot(order)
    assert orders_complete(order_ids=[order.pk], at=timezone.now()) == 0
    with pytest.raises(TransitionNotAllowed, match="is failed: cannot become completed"):
        ORDER.move_one(order.pk, to=OS.COMPLETED, completed_at=timezone.now())
    assert snapshot(order) == before


@pytest.mark.parametrize("status", [OS.PENDING_PAYMENT, OS.COMPLETED, OS.REFUNDED, OS.FAILED])
def test_only_a_paid_order_on_its_way_can_fail(alice, status):
    order = OrderFactory(customer=alice, status=status)
    before = snapshot(order)
    with pytest.raises(TransitionNotAllowed):
        order_fail(order_id=order.pk, reason="[8.2.1] refused", at=timezone.now())
    assert snapshot(order) == before


@pytest.mark.parametrize("status", [OS.PENDING_PAYMENT, OS.COMPLETED, OS.REFUNDED])
def test_support_retries_only_a_paid_order_not_active_yet(alice, status):
    order = OrderFactory(customer=alice, status=status)
    before = snapshot(order)
    with pytest.raises(TransitionNotAllowed):
        order_activation_retry_mark(order=order)
    with pytest.raises(services.OrderError):
        services.order_activation_retry(order_id=order.pk, actor=alice)
    assert snapshot(order) == before


def test_a_retry_clears_the_failure(alice):
    order = OrderFactory(customer=alice, status=OS.FAILED, failure_reason="[8.2.1] refused")
    order_activation_retry_mark(order=order)
    order.refresh_from_db()
    assert (order.status, order.failed_at, order.failure_reason) == (OS.ACTIVATING, None, "")


def test_an_activation_attempt_takes_only_paid_and_activating_orders(alice):
    orders = {status: OrderFactory(customer=alice, status=status) for status in OS.values}
    before = {status: snapshot(order) for status, order in orders.items()}
    now = timezone.now()
    assert orders_activation_begin(order_ids=[o.pk for o in orders.values()], at=now) == 2
    for status in (OS.PAID, OS.ACTIVATING):
        order = Order.objects.get(pk=orders[status].pk)
        assert (order.status, order.activation_attempts) == (OS.ACTIVATING, 1)
        assert order.activation_attempted_at == now and order.activation_started_at
    for status in (OS.PENDING_PAYMENT, OS.COMPLETED, OS.FAILED, OS.REFUNDED):
        assert snapshot(orders[status]) == before[status], status


def test_an_order_keeps_when_its_activation_started(alice):
    started = timezone.now() - timedelta(hours=1)
    order = OrderFactory(customer=alice, status=OS.ACTIVATING, activation_started_at=started)
    orders_activation_begin(order_ids=[order.pk], at=timezone.now())
    assert Order.objects.get(pk=order.pk).activation_started_at == started


def test_a_succeeded_payment_moves_no_more(alice):
    payment = payment_of(OrderFactory(customer=alice, status=OS.PAID), status=PS.SUCCEEDED)
    before = snapshot(payment)
    with pytest.raises(TransitionNotAllowed, match="is succeeded: cannot become failed"):
        payments_move(moves=[(payment, PaymentMove(PS.FAILED, "card_declined", "no"))],
                      at=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        payment_fail_uncharged(payment_id=payment.pk, reason="refused", at=timezone.now())
    assert snapshot(payment) == before


def test_a_duplicate_payment_never_succeeds(alice):
    order = OrderFactory(customer=alice, status=OS.PAID)
    payment = payment_of(order, status=PS.FAILED, failure_code=DUPLICATE)
    before = snapshot(payment)
    with pytest.raises(TransitionNotAllowed):
        payments_move(moves=[(payment, PaymentMove(PS.SUCCEEDED))], at=timezone.now())
    assert snapshot(payment) == before


def test_only_a_duplicate_is_refunded_and_only_once(alice):
    order = OrderFactory(customer=alice, status=OS.PAID)
    declined = payment_of(order, status=PS.FAILED, failure_code="card_declined")
    assert not payment_mark_duplicate_refunded(payment_id=declined.pk, refund_reference="re_1",
                                               at=timezone.now())
    duplicate = payment_of(order, status=PS.FAILED, failure_code=DUPLICATE)
    assert payment_mark_duplicate_refunded(payment_id=duplicate.pk, refund_reference="re_2",
                                           at=timezone.now())
    assert not payment_mark_duplicate_refunded(payment_id=duplicate.pk,
                                               refund_reference="re_3", at=timezone.now())
    assert not payment_mark_duplicate_refund_refused(payment_id=duplicate.pk,
                                                     reason="disputed", at=timezone.now())
    duplicate.refresh_from_db()
    assert (duplicate.failure_code, duplicate.refund_reference) == (DUPLICATE, "re_2")
    assert Payment.objects.get(pk=declined.pk).refunded_at is None


def test_a_card_moves_only_as_its_table_says(alice):
    removed = card_of(alice, status=CS.REMOVED)
    before = snapshot(removed)
    with pytest.raises(TransitionNotAllowed, match="is removed: cannot become active"):
        card_mark_saved(payment_method_id=removed.pk, saved=SAVED, at=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        card_mark_removed(method=removed)
    assert snapshot(removed) == before
    active = PaymentMethod.objects.create(customer=alice, gateway="simulated",
                                          setup_reference="simcard_active", status=CS.ACTIVE,
                                          reference="simcard_active", saved_at=timezone.now())
    with pytest.raises(TransitionNotAllowed):
        card_mark_failed(payment_method_id=active.pk)
    assert PaymentMethod.objects.get(pk=active.pk).status == CS.ACTIVE


# --- Batch moves take a few statements however many rows --------------------------------

def test_batch_moves_take_one_statement(alice, django_assert_num_queries):
    """An order's move locks its rows, updates them and writes their audit entries
    (portal/audit.py): three statements, four when a value the database computes is
    read back for the history; a payment, with no audit trail, one."""
    pending = [OrderFactory(customer=alice) for _ in range(5)]
    paid = [OrderFactory(customer=alice, status=OS.PAID) for _ in range(5)]
    now = timezone.now()
    with django_assert_num_queries(3):
        orders_mark_paid(orders=pending, at=now)
    with django_assert_num_queries(4):
        assert orders_activation_begin(order_ids=[o.pk for o in paid], at=now) == 5
    with django_assert_num_queries(3):
        assert orders_complete(order_ids=[o.pk for o in paid], at=now) == 5
    payments = [payment_of(order) for order in pending]
    with django_assert_num_queries(1):
        payments_move(moves=[(p, PaymentMove(PS.SUCCEEDED)) for p in payments], at=now)
    assert set(Payment.objects.values_list("status", flat=True)) == {PS.SUCCEEDED}


# --- The database refuses a status without its timestamps --------------------------------

@pytest.mark.parametrize(("status", "fields"), [
    (OS.COMPLETED, {}),                                   # no completed_at
    (OS.FAILED, {}),                                      # no failed_at
    (OS.REFUNDED, {}),                                    # no refunded_at
    (OS.PENDING_PAYMENT, {}),                             # paid_at still set
    (OS.PAID, {"paid_at": None}),
    (OS.ACTIVATING, {"paid_at": None}),
])
def test_an_order_status_without_its_timestamps_is_refused(alice, status, fields):
    order = OrderFactory(customer=alice, status=OS.ACTIVATING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status=status, **fields)
    assert Order.objects.get(pk=order.pk).status == OS.ACTIVATING


def test_a_payment_refunded_here_is_a_duplicate(alice):
    payment = payment_of(OrderFactory(customer=alice, status=OS.PAID), status=PS.SUCCEEDED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_at=timezone.now(),
                                                     refund_reference="re_1")
    duplicate = payment_of(payment.order, status=PS.FAILED, failure_code=DUPLICATE)
    with pytest.raises(IntegrityError), transaction.atomic():  # no gateway reference
        Payment.objects.filter(pk=duplicate.pk).update(refunded_at=timezone.now())


def test_a_card_is_active_only_once_saved(alice):
    card = card_of(alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod.objects.filter(pk=card.pk).update(status=CS.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentMethod.objects.filter(pk=card.pk).update(status=CS.ACTIVE,
                                                        saved_at=timezone.now())
    card_mark_saved(payment_method_id=card.pk, saved=SAVED, at=timezone.now())
    card.refresh_from_db()
    assert (card.status, card.reference, card.last4) == (CS.ACTIVE, "simcard_saved", "4242")


# --- Racing moves move a row once (PostgreSQL) -------------------------------------------

@pytest.fixture
def racing(transactional_db):
    machine.need(connection.vendor == "postgresql", "PostgreSQL (row locks under real races)")


racing_test = pytest.mark.django_db(transaction=True)


@racing_test
def test_racing_failures_fail_an_order_once(racing):
    order = OrderFactory(customer=UserFactory(), status=OS.ACTIVATING)
    results, errors = race(lambda: order_fail(order_id=order.pk, reason="refused",
                                              at=timezone.now()))
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(error, TransitionNotAllowed) for error in errors)
    assert Order.objects.get(pk=order.pk).status == OS.FAILED


@racing_test
def test_racing_completions_complete_an_order_once(racing):
    order = OrderFactory(customer=UserFactory(), status=OS.ACTIVATING)
    results, errors = race(lambda: orders_complete(order_ids=[order.pk], at=timezone.now()))
    assert errors == [] and sorted(results) == [0, 0, 0, 1]


@racing_test
def test_racing_refunds_of_a_locked_order_refund_it_once(racing):
    order = OrderFactory(customer=UserFactory(), status=OS.COMPLETED)

    def refund():
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            order_mark_refunded(order=locked, at=timezone.now())

    results, errors = race(refund)
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(error, TransitionNotAllowed) for error in errors)
    assert Order.objects.get(pk=order.pk).status == OS.REFUNDED


@racing_test
def test_racing_returns_save_a_card_once(racing):
    card = card_of(UserFactory())
    results, errors = race(lambda: card_mark_saved(payment_method_id=card.pk, saved=SAVED,
                                                   at=timezone.now()))
    assert len(results) == 1 and len(errors) == 3
    assert PaymentMethod.objects.get(pk=card.pk).status == CS.ACTIVE


@racing_test
def test_racing_refund_records_of_a_duplicate_record_it_once(racing):
    order = OrderFactory(customer=UserFactory(), status=OS.PAID)
    duplicate = payment_of(order, status=PS.FAILED, failure_code=DUPLICATE)
    results, errors = race(lambda: payment_mark_duplicate_refunded(
        payment_id=duplicate.pk, refund_reference="re_1", at=timezone.now()))
    assert errors == [] and sorted(results) == [False, False, False, True]
