import pytest
from django.urls import reverse

from plans.models import Plan
from plans.selectors import country_code_for
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    return {
        "japan": PlanFactory(code="jp-week", name="Japan week", countries=["JP"],
                             validity_days=7, validity_kind="week", data_mb=3072),
        "europe": PlanFactory(code="eu-month", name="Europe month", coverage_name="Europe",
                              coverage_scope="region", countries=["FR", "DE", "ES"],
                              validity_days=30, validity_kind="month", data_mb=20480),
        "global": PlanFactory(code="world-year", name="World year", coverage_name="Global",
                              coverage_scope="global", countries=["JP", "FR", "US"],
                              validity_days=365, validity_kind="year", data_mb=None),
        "hidden": PlanFactory(code="old", name="Retired plan", is_active=False),
        "usd_only": PlanFactory(code="usd-only", name="Dollar plan", prices={"USD": 100}),
    }


def names(response):
    return sorted(plan.name for plan in response.context["plans"])


def test_catalogue_lists_plans_on_sale_in_the_chosen_currency(client, catalogue):
    assert names(client.get("/plans/")) == ["Dollar plan", "Europe month", "Japan week",
                                            "World year"]
    response = client.get("/plans/?currency=EUR")
    assert "Dollar plan" not in names(response)  # no EUR price: not offered in EUR
    assert "€7.50" in response.content.decode()


@pytest.mark.parametrize("place, expected", [
    ("Japan", ["Japan week", "World year"]),
    ("jp", ["Japan week", "World year"]),
    ("France", ["Europe month", "World year"]),
    ("法国", ["Europe month", "World year"]),
    ("Europe", ["Europe month"]),
    ("Atlantis", []),
])
def test_filter_by_country_or_region(client, catalogue, place, expected):
    response = client.get("/plans/", {"place": place, "currency": "EUR"})
    assert names(response) == expected


@pytest.mark.parametrize("place", ["usa", "USA", "United States", "america", "美国", "us"])
def test_the_usa_is_found_however_a_traveller_types_it(client, place):
    """Travellers type "usa", not "United States of America"."""
    PlanFactory(name="USA week", countries=["US"], coverage_name="United States")
    PlanFactory(name="Japan week", countries=["JP"])
    response = client.get("/plans/", {"place": place})
    assert names(response) == ["USA week"]


@pytest.mark.parametrize("place, code", [("uk", "GB"), ("England", "GB"), ("GBR", "GB"),
                                         ("Macau", "MO"), ("UAE", "AE"), ("xyz", None)])
def test_common_names_and_three_letter_codes(place, code):
    assert country_code_for(place) == code


def test_filter_by_validity_and_data(client, catalogue):
    assert names(client.get("/plans/?validity=month")) == ["Europe month"]
    assert names(client.get("/plans/?data=unlimited")) == ["World year"]
    assert names(client.get("/plans/?data=small")) == ["Dollar plan", "Japan week"]
    assert names(client.get("/plans/?data=large")) == ["Europe month"]


def test_bad_filter_values_show_the_form_error_and_all_plans(client, catalogue):
    response = client.get("/plans/?validity=fortnight&currency=XYZ")
    assert response.status_code == 200
    assert response.context["form"].errors["validity"]
    assert response.context["currency"] == "USD"


def test_plan_detail_shows_coverage_extras_and_price(client, catalogue):
    plan = PlanFactory(code="eu-calls", name="Europe calls", voice_minutes=100, sms_count=50,
                       countries=["FR", "DE"])
    content = client.get(reverse("plans:detail", args=[plan.code])).content.decode()
    for text in ("100 minutes", "50 SMS", "France", "Germany", "US$8.00"):
        assert text in content


def test_inactive_or_unknown_plan_is_404(client, catalogue):
    assert client.get(reverse("plans:detail", args=["old"])).status_code == 404
    assert client.get(reverse("plans:detail", args=["nope"])).status_code == 404
    assert client.get("/plans/usd-only/?currency=CNY").status_code == 404


def test_chosen_currency_is_remembered_on_the_account(alice_client, alice, catalogue):
    alice_client.post(reverse("plans:set_currency"), {"currency": "CNY", "next": "/plans/"})
    alice.refresh_from_db()
    assert alice.currency == "CNY"
    assert "CN¥58.00" in alice_client.get("/plans/").content.decode()


@pytest.mark.parametrize("count", [15, 500])
def test_catalogue_query_count_does_not_grow_with_plans(client, count,
                                                        django_assert_max_num_queries):
    Plan.objects.all().delete()
    PlanFactory.create_batch(count)
    with django_assert_max_num_queries(4):
        response = client.get("/plans/")
    assert len(response.context["plans"]) == count
