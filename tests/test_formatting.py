"""How money and amounts of data read: each language writes money its own way, with
no two currencies sharing a sign; data left is never shown as less than there is."""

import pytest
from django.template import Context, Template
from django.utils import translation

from portal.formatting import currency_exponent, data_bytes, data_left, money

KB, MB, GB = 1024, 1024 ** 2, 1024 ** 3


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_an_unused_plan_minus_a_kilobyte_still_reads_as_its_size_left():
    assert data_left(3 * GB - KB) == "3.00 GB"
    assert data_left(3 * GB) == "3.00 GB"
    # The old truncating format read 2.99 GB here.
    assert data_bytes(3 * GB - KB) == "3.00 GB"


def test_left_rounds_up_at_the_shown_precision():
    assert data_left(int(2.991 * GB)) == "3.00 GB"
    assert data_left(int(1.5 * MB)) == "1.5 MB"
    assert data_left(int(1.51 * MB)) == "1.6 MB"
    assert data_left(int(10.2 * MB)) == "11 MB"
    # A few bytes left are not shown as none.
    assert data_left(1) == "0.1 MB"


def test_used_rounds_to_the_nearest():
    assert data_bytes(int(1.004 * GB)) == "1.00 GB"
    assert data_bytes(int(1.006 * GB)) == "1.01 GB"
    assert data_bytes(int(10.4 * MB)) == "10 MB"
    assert data_bytes(int(10.6 * MB)) == "11 MB"


def test_nothing_is_zero():
    assert data_bytes(0) == "0 MB"
    assert data_left(0) == "0 MB"


def test_large_and_unlimited_amounts():
    assert data_bytes(1000 * GB) == "1000.00 GB"
    assert data_left(50 * GB + 1) == "50.01 GB"
    assert data_bytes(None) == data_left(None) == "Unlimited"


def test_template_filters():
    text = Template("{% load portal %}{{ used|data_bytes }} / {{ left|data_left }}").render(
        Context({"used": KB, "left": 3 * GB - KB}))
    assert text == "0.0 MB / 3.00 GB"


NBSP = "\u00a0"


def test_yuan_and_yen_never_share_a_sign_side_by_side():
    assert (money(5800, "CNY"), money(1200, "JPY"), money(800, "USD")) == (
        "CN¥58.00", "JP¥1,200", "US$8.00")
    with translation.override("zh-hans"):
        assert (money(5800, "CNY"), money(1200, "JPY"), money(800, "USD")) == (
            "¥58.00", "JP¥1,200", "US$8.00")


def test_each_language_gets_its_own_conventions():
    assert money(750, "EUR") == "€7.50"
    assert money(1200, "GBP") == "£12.00"
    assert money(1200, "HKD") == "HK$12.00"
    assert money(1200, "AUD") == "A$12.00"
    with translation.override("zh-hans"):
        assert money(1200, "AUD") == "AU$12.00"
        assert money(750, "EUR") == "€7.50"


def test_a_code_without_a_sign_is_spaced_from_the_figure():
    assert money(1200, "CHF") == f"CHF{NBSP}12.00"
    with translation.override("zh-hans"):
        assert money(1200, "SGD") == f"SGD{NBSP}12.00"


def test_zero_and_three_decimal_currencies():
    assert [currency_exponent(c) for c in ("USD", "jpy", "KRW", "VND", "BHD")] == [
        2, 0, 0, 0, 3]
    assert money(1200, "JPY") == "JP¥1,200"
    assert money(0, "JPY") == "JP¥0"
    assert money(50000, "KRW") == "₩50,000"
    assert money(12345, "BHD") == f"BHD{NBSP}12.345"
    assert money(1, "USD") == "US$0.01"


def test_negative_amounts_read_as_credits():
    assert money(-800, "USD") == "-US$8.00"
    assert money(-1200, "JPY") == "-JP¥1,200"
    with translation.override("zh-hans"):
        assert money(-5800, "CNY") == "-¥58.00"


def test_big_amounts_are_grouped():
    assert money(123456789, "USD") == "US$1,234,567.89"
    assert money(1234567890, "JPY") == "JP¥1,234,567,890"
    with translation.override("zh-hans"):
        assert money(123456789, "CNY") == "¥1,234,567.89"


def test_no_amount_is_nothing_and_the_currency_code_may_be_lower_case():
    assert money(None, "USD") == ""
    assert money(800, "usd") == "US$8.00"


def test_a_language_the_portal_does_not_offer_uses_its_own_cldr_data():
    with translation.override("de"):
        assert money(123456, "EUR") == f"1.234,56{NBSP}€"


def test_the_template_tag_formats_in_the_active_language():
    template = Template("{% load portal %}{% money amount currency %}")
    assert template.render(Context({"amount": 5800, "currency": "CNY"})) == "CN¥58.00"
    with translation.override("zh-hans"):
        assert template.render(Context({"amount": 5800, "currency": "CNY"})) == "¥58.00"
