"""E-mail: addresses and header checks, message building, and the file:// and smtp:// transports."""

from __future__ import annotations

from canopy.config import Config
from canopy.drivers import load_driver
from canopy.mail.message import Mail, build_message
from canopy.mail.transport import MailTransport

DRIVERS = {
    "file": "canopy.mail.transport:OutboxTransport",
    "smtp": "canopy.mail.transport:SmtpTransport",
    "smtp+starttls": "canopy.mail.transport:SmtpTransport",
    "smtps": "canopy.mail.transport:SmtpTransport",
}


def open_mail(config: Config) -> MailTransport:
    """The transport CANOPY_MAIL_URL names, logged in with CANOPY_MAIL_USERNAME/PASSWORD if set."""
    url = str(config.mail_url)
    driver = load_driver("mail", url, DRIVERS)
    transport: MailTransport = driver(url, config.mail_username, config.mail_password)
    return transport


__all__ = ["DRIVERS", "Mail", "MailTransport", "build_message", "open_mail"]
