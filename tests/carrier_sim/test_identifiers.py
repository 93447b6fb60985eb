"""ICCID Luhn, EID MOD 97-10 and matching IDs."""

from __future__ import annotations

import pytest

from carrier_sim.identifiers import (
    InvalidIdentifier,
    eid_make,
    eid_validate,
    iccid_make,
    iccid_normalize,
    luhn_check_digit,
    matching_id_make,
    matching_id_validate,
)


def test_luhn_check_digit_of_known_numbers():
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    assert luhn_check_digit("898824700000000001") == "9"


def test_made_iccids_are_19_valid_digits():
    iccid = iccid_make(42)

    assert iccid.startswith("8988247") and len(iccid) == 19
    assert iccid_normalize(iccid) == iccid


@pytest.mark.parametrize(
    "raw", ["8988247000000000019F", "8988247000000000019f", " 8988247000000000019 "]
)
def test_iccid_padding_and_spaces_are_accepted(raw):
    assert iccid_normalize(raw) == "8988247000000000019"


def test_20_digit_iccid_is_accepted():
    payload = "8988247000000000001"  # 19 digits before the check digit
    iccid = payload + luhn_check_digit(payload)

    assert len(iccid) == 20
    assert iccid_normalize(iccid) == iccid


@pytest.mark.parametrize(
    "raw",
    [
        "8988247000000000011",
        "8988247000000000011F",
        "898824700000000001",
        "1988247000000000019",
        "89882470000000000A9",
        "89882470000000000191F",
        "",
        None,
        8988247000000000019,
    ],
)
def test_bad_iccids_are_refused(raw):
    with pytest.raises(InvalidIdentifier):
        iccid_normalize(raw)


def test_made_eids_pass_mod_97_10():
    for _ in range(50):
        eid = eid_make()
        assert eid_validate(eid) == eid and int(eid) % 97 == 1


@pytest.mark.parametrize(
    "raw", ["89049032004008882600000000000000", "8904903200400888260000000000000", 1, "x" * 32]
)
def test_bad_eids_are_refused(raw):
    with pytest.raises(InvalidIdentifier):
        eid_validate(raw)


def test_matching_ids():
    assert matching_id_validate(matching_id_make())
    assert matching_id_validate("K2-4HJ7T-1A2B3C") == "K2-4HJ7T-1A2B3C"
    with pytest.raises(InvalidIdentifier):
        matching_id_validate("k2-lower")
