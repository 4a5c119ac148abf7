"""Where mail goes: .eml files in an outbox directory (the embedded default) or an SMTP server.

Both drivers take a built EmailMessage and return a one-line description of where it went; a failure
that outlasts the SMTP driver's retries raises Unavailable naming the server and the last error.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from canopy.errors import ConfigError, Unavailable
from canopy.private import make_private_dir, write_private_file

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0
SMTP_RETRY_DELAYS = (1.0, 4.0)  # seconds before the second and third attempt
SMTP_SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}


class MailTransport(ABC):
    """Delivers built messages somewhere."""

    @abstractmethod
    def send(self, message: EmailMessage) -> str:
        """Deliver one message; return where it went (a path, a server)."""

    def describe(self) -> str:
        """Where this transport delivers, for the start-up log."""
        return type(self).__name__


def eml_name(message: EmailMessage) -> str:
    """The outbox file name of a message: its Message-ID's local part, so a redelivery overwrites it."""
    local = str(message["Message-ID"] or "<mail@x>").strip("<>").partition("@")[0]
    return f"{local or 'mail'}.eml"


class OutboxTransport(MailTransport):
    """Writes each message as <outbox>/<message id>.eml, atomically (temporary file, fsync, rename)."""

    def __init__(self, url: str, username: str = "", password: str = "") -> None:
        parts = urlsplit(url)
        raw = unquote(parts.netloc + parts.path)
        if not raw:
            raise ConfigError(f"CANOPY_MAIL_URL={url!r} names no directory; expected file:///dir")
        self.outbox = Path(raw).expanduser().resolve()

    def send(self, message: EmailMessage) -> str:
        """Write the message file; a reader never sees a half-written one."""
        target = make_private_dir(self.outbox) / eml_name(message)
        write_private_file(target, message.as_bytes())
        return str(target)

    def describe(self) -> str:
        """The outbox directory."""
        return f"outbox {self.outbox}"


class SmtpTransport(MailTransport):
    """Sends through an SMTP server (plain, STARTTLS or TLS), with a timeout and retries."""

    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        *,
        timeout: float = SMTP_TIMEOUT,
        retry_delays: Sequence[float] = SMTP_RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        self.security = SMTP_SCHEMES[parts.scheme.lower()]
        if not parts.hostname:
            raise ConfigError(f"CANOPY_MAIL_URL={url!r} names no server; expected smtp://host:port")
        default_port = 465 if self.security == "tls" else 587 if self.security == "starttls" else 25
        try:
            self.port = parts.port or default_port
        except ValueError:
            raise ConfigError(f"CANOPY_MAIL_URL={url!r} has an invalid port") from None
        self.host = parts.hostname
        self.username, self.password = username, password
        self.timeout, self.retry_delays, self.sleep = timeout, tuple(retry_delays), sleep

    def describe(self) -> str:
        """The server, e.g. smtp 127.0.0.1:1025."""
        return f"smtp {self.host}:{self.port} ({self.security})"

    def send(self, message: EmailMessage) -> str:
        """Send, retrying after each delay; Unavailable once every attempt failed."""
        attempts = len(self.retry_delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                self._send_once(message)
                return f"{self.host}:{self.port}"
            except smtplib.SMTPRecipientsRefused as exc:
                raise Unavailable(f"{self.describe()} refused the recipient: {exc.recipients}") from exc
            except (OSError, smtplib.SMTPException) as exc:
                if attempt == attempts:
                    raise Unavailable(
                        f"{self.describe()} failed {attempts} time(s): {type(exc).__name__}: {exc}"
                    ) from exc
                delay = self.retry_delays[attempt - 1]
                log.warning("mail to %s failed (%s); retry in %.1f s", self.describe(), exc, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _send_once(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)
