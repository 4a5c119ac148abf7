"""What an e-mail address and a header text may be: one plain address, no line breaks or control characters.

Checked where a request enters (the gateway's notifications view, the account settings) and again
where mail is built (the notifier), so that no text from an app can add a header or a recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from canopy.errors import ValidationFailed

MAX_ADDRESS = 320
MAX_LOCAL_PART = 64
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\u0085]")


def check_header_text(field: str, text: str) -> str:
    """`text` when it is fit for a one-line header (no CR, LF or other control character), else 400."""
    if _CONTROL.search(text):
        raise ValidationFailed(
            f"{field} must be one line: line breaks and control characters are refused",
            details={field: "contains a line break or a control character"},
        )
    return text


def parse_address(text: str, field: str = "to") -> str:
    """One plain address local@domain (ASCII, no display name, no list), domain lower-cased; else 400."""
    check_header_text(field, text)
    address = text.strip()
    local, _, domain = address.rpartition("@")
    if (
        len(address) > MAX_ADDRESS
        or len(local) > MAX_LOCAL_PART
        or not _ADDRESS.fullmatch(address)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise ValidationFailed(
            f"{field}: {address[:80]!r} is not one e-mail address like name@example.org",
            details={field: "not an e-mail address"},
        )
    return f"{local}@{domain.lower()}"


def parse_domains(raw: str) -> tuple[str, ...]:
    """A comma-separated list of mail domains, lower-cased (empty text: none)."""
    domains = tuple(part.strip().lower().lstrip("@") for part in raw.split(",") if part.strip())
    for domain in domains:
        parse_address(f"x@{domain}", "domain")
    return domains


def domain_allowed(address: str, domains: Iterable[str]) -> bool:
    """Whether the address's domain (or a parent domain) is listed; an empty list allows every domain."""
    allowed = tuple(domains)
    if not allowed:
        return True
    domain = address.rpartition("@")[2].lower()
    return any(domain == entry or domain.endswith(f".{entry}") for entry in allowed)


def check_recipient(text: str, domains: Iterable[str]) -> str:
    """The parsed address of an app-chosen recipient, refused (400) when its domain is not allowed."""
    address, allowed = parse_address(text), tuple(domains)
    if not domain_allowed(address, allowed):
        raise ValidationFailed(
            f"to: apps may only mail addresses at {', '.join(allowed)} (CANOPY_MAIL_RECIPIENT_DOMAINS)",
            details={"to": "domain not allowed"},
        )
    return address


def one_line(text: str) -> str:
    """Platform-made header text on one line: every line break or control character becomes a space."""
    return " ".join(_CONTROL.sub(" ", text).split())
