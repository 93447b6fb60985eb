"""How amounts of data read: data left is never shown as less than there is."""

import pytest
from django.template import Context, Template
from django.utils import translation

from portal.formatting import data_bytes, data_left

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
