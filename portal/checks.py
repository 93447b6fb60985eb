"""System checks of the portal's own settings, run by `manage.py check --deploy` (and so
by `make check`, which fails on any warning).

Receipts are legal documents: the issuer printed on them must be the operator's real
name and address, never left unset or a stand-in from the examples.
"""

import re

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

TAG = "esim_portal"

# Names the repository itself has used for the issuer: its old defaults and its examples.
PUBLISHED_ISSUERS = {"esim portal", "esim portal ltd", "esim portal (demo)",
                     "set receipt_issuer_address"}
# Words a real legal name, address or tax number never contains whole, in English and
# Chinese.
_PLACEHOLDER = re.compile(
    r"\b(example|examples|placeholder|demo|sample|dummy|test|todo|tbd|fixme|change ?me"
    r"|replace ?me|your (company|name|address|street|city)|lorem|ipsum)\b"
    r"|\bset receipt_|\bx{3,}\b|^[\s\-_.?|]*$"
    r"|某某|示例|样例",  # "so-and-so", "example", "sample"
    re.IGNORECASE)

_SETTINGS = [
    ("RECEIPT_ISSUER_NAME", "esim_portal.W001", "the operator's legal name"),
    ("RECEIPT_ISSUER_ADDRESS", "esim_portal.W002",
     "the operator's postal address, lines separated by |"),
]


def placeholder(value: str) -> bool:
    """Whether a setting's value reads as unset or a stand-in rather than a real one."""
    text = value.strip()
    return text.lower() in PUBLISHED_ISSUERS or bool(_PLACEHOLDER.search(text))


@register(TAG, deploy=True)
def receipt_issuer_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Warn while the issuer on receipts is unset, a default or a placeholder."""
    found: list[CheckMessage] = []
    for name, check_id, what in _SETTINGS:
        value = getattr(settings, name, "") or ""
        if not value.strip() or placeholder(value):
            found.append(Warning(
                f"{name} is {'unset' if not value.strip() else repr(value)}: receipts and "
                f"credit notes would be issued without a real issuer.",
                hint=f"Set {name} in the environment (.env) to {what}.", id=check_id))
    tax_id = getattr(settings, "RECEIPT_ISSUER_TAX_ID", "") or ""
    if tax_id.strip() and placeholder(tax_id):  # optional, but if given it must be real
        found.append(Warning(
            f"RECEIPT_ISSUER_TAX_ID is {tax_id!r}, which reads as a placeholder.",
            hint="Set RECEIPT_ISSUER_TAX_ID to the operator's tax or registration number, "
                 "or leave it empty where receipts need none.", id="esim_portal.W003"))
    return found
