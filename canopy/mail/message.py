"""One e-mail the platform sends, and the RFC 5322 message built from it (headers checked, body UTF-8)."""

from __future__ import annotations

import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from canopy.mail.addresses import check_header_text, parse_address

MAX_SUBJECT = 200
MESSAGE_ID_DOMAIN = "canopy.invalid"
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,40}")


@dataclass(frozen=True)
class Mail:
    """What to send: recipient, subject, body, the id that makes redeliveries recognisable, and its kind."""

    to: str
    subject: str
    body: str
    mail_id: str
    at: datetime
    kind: str = "notification"
    headers: dict[str, str] = field(default_factory=dict)  # extra X-Canopy-* headers


def message_id(mail_id: str) -> str:
    """The Message-ID header of a mail: one per bus message, so a redelivery carries the same id."""
    safe = "".join(char for char in mail_id if char.isalnum() or char in "-_.")[:64] or "mail"
    return f"<{safe}@{MESSAGE_ID_DOMAIN}>"


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The e-mail of `mail` from `sender`; any header text with a line break is refused (ValidationFailed)."""
    subject = check_header_text("subject", mail.subject)[:MAX_SUBJECT]
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = parse_address(sender, "CANOPY_MAIL_FROM")
    message["To"] = parse_address(mail.to)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(mail.at)
    message["Message-ID"] = message_id(mail.mail_id)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Canopy-Kind"] = check_header_text("kind", mail.kind)
    for name, value in sorted(mail.headers.items()):
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"not a header name: {name!r}")
        message[f"X-Canopy-{name}"] = check_header_text(name, value)
    message.set_content(mail.body)
    return message
