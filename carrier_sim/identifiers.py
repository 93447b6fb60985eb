"""ICCID, EID and matching ID: checking what arrives, making what we hand out.

ICCID (ITU-T E.118): 19 or 20 digits starting with 89, the last a Luhn check
digit; SGP.22 lets a 19-digit ICCID travel padded with a trailing "F".
EID (SGP.29): 32 digits whose value is 1 modulo 97 (ISO 7064 MOD 97-10).
Matching ID (SGP.22 4.1): upper-case letters, digits and "-".
"""

from __future__ import annotations

import re
import secrets

ICCID_PREFIX = "8988247"  # 89 (telecom) + 882 (international networks) + a made-up issuer
EID_PREFIX = "89049032"  # a typical EUM prefix; the rest is random per device

_DIGITS = re.compile(r"[0-9]+")
_MATCHING_ID = re.compile(r"[0-9A-Z-]*")
_MATCHING_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: read as 1 and 0


class InvalidIdentifier(ValueError):
    """The value is not a well-formed identifier; the message says why."""


def luhn_check_digit(payload: str) -> str:
    total = 0
    # Doubling starts from the digit next to where the check digit will go.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def iccid_normalize(raw: object) -> str:
    """Return the ICCID as plain digits, or raise InvalidIdentifier."""
    if not isinstance(raw, str):
        raise InvalidIdentifier("ICCID must be a string")
    iccid = raw.strip()
    if len(iccid) == 20 and iccid[-1] in "Ff":
        iccid = iccid[:-1]
    if not _DIGITS.fullmatch(iccid) or len(iccid) not in (19, 20):
        raise InvalidIdentifier("ICCID must be 19 or 20 digits (19 may be padded with F)")
    if not iccid.startswith("89"):
        raise InvalidIdentifier("ICCID must start with 89")
    if luhn_check_digit(iccid[:-1]) != iccid[-1]:
        raise InvalidIdentifier("ICCID check digit (Luhn) is wrong")
    return iccid


def iccid_make(serial: int) -> str:
    payload = f"{ICCID_PREFIX}{serial:011d}"
    return payload + luhn_check_digit(payload)


def eid_check_digits(payload: str) -> str:
    return f"{98 - int(payload + '00') % 97:02d}"


def eid_validate(raw: object) -> str:
    """Return the EID, or raise InvalidIdentifier."""
    if not isinstance(raw, str):
        raise InvalidIdentifier("EID must be a string")
    if len(raw) != 32 or not _DIGITS.fullmatch(raw):
        raise InvalidIdentifier("EID must be 32 digits")
    if int(raw) % 97 != 1:
        raise InvalidIdentifier("EID check digits (MOD 97-10) are wrong")
    return raw


def eid_make() -> str:
    body = EID_PREFIX + "".join(secrets.choice("0123456789") for _ in range(22))
    return body + eid_check_digits(body)


def matching_id_validate(raw: object) -> str:
    if not isinstance(raw, str) or len(raw) > 255 or not _MATCHING_ID.fullmatch(raw):
        raise InvalidIdentifier("matchingId must be upper-case letters, digits and '-'")
    return raw


def matching_id_make() -> str:
    groups = ("".join(secrets.choice(_MATCHING_ID_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)
