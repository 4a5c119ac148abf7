"""The notifier's bus handler: pick the recipient, bound the rate, build and send; record what is not sent.

Nothing is dropped silently: a mail that is not sent (no address, refused recipient or subject, over
a rate limit, too old, the server failing after its retries) gets one log line, a count in
canopy_mails_total and a dead letter carrying the reason.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy import select

from canopy.bus import Bus, Record
from canopy.bus.typed import dead_letter_for, publish
from canopy.contracts import Envelope
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.notifications import NotificationRequest
from canopy.errors import CanopyError
from canopy.mail import Mail, MailTransport, build_message
from canopy.mail.addresses import check_header_text, check_recipient, parse_address
from canopy.ratelimit import WindowCounter
from canopy.store import Store
from canopy.store.models import User
from services.notifier.compose import booking_text, request_body, stale

log = logging.getLogger(__name__)

MAILS = Counter("canopy_mails_total", "Mails the notifier handled, by kind and outcome", ["kind", "outcome"])
RATE_WINDOW = 3600.0
REMEMBERED_IDS = 10_000


class Undelivered(Exception):
    """A mail that is not sent, with the outcome label and the reason recorded for it."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


@dataclass(frozen=True)
class Recipient:
    """Where a user's mail goes and the zone their times are shown in."""

    email: str | None
    timezone: str


@dataclass(frozen=True)
class Policy:
    """The sender and the bounds on app-requested mail (from the CANOPY_MAIL_* settings)."""

    sender: str
    per_instance: int
    per_recipient: int
    recipient_domains: Sequence[str] = ()


def store_recipients(store: Store) -> Callable[[str], Recipient | None]:
    """Look a user's address and time zone up in the platform store (None: no such user)."""

    def lookup(name: str) -> Recipient | None:
        with store.session() as session:
            user = session.scalars(select(User).where(User.name == name)).one_or_none()
            return None if user is None else Recipient(user.email, user.timezone or "UTC")

    return lookup


class Notifier:
    """Turns booking events and notification requests into sent mail, or into recorded refusals."""

    def __init__(
        self,
        bus: Bus,
        transport: MailTransport,
        recipients: Callable[[str], Recipient | None],
        policy: Policy,
        group: str,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bus, self.transport, self.recipients, self.policy = bus, transport, recipients, policy
        self.group, self.now = group, now
        limits = {"instance": policy.per_instance, "recipient": policy.per_recipient}
        self.limiter = WindowCounter(limits, RATE_WINDOW, clock=clock)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def handle(self, envelope: Envelope, record: Record) -> None:
        """Send the mail a message asks for, once; record it when it cannot be sent."""
        message = envelope.message
        if not isinstance(message, BookingEvent | NotificationRequest) or envelope.message_id in self._seen:
            return
        kind = f"booking-{message.kind}" if isinstance(message, BookingEvent) else "app-notification"
        try:
            if isinstance(message, BookingEvent):
                mail = self._booking(message, envelope)
            else:
                mail = self._request(message, envelope)
            where = self.transport.send(build_message(mail, self.policy.sender))
        except Undelivered as refused:
            self._record(record, kind, refused)
        except CanopyError as exc:
            self._record(record, kind, Undelivered("failed", exc.message))
        else:
            MAILS.labels(kind, "sent").inc()
            log.info("mail %s to %s sent (%s): %s", kind, mail.to, where, mail.subject)
        self._remember(envelope.message_id)

    def _booking(self, event: BookingEvent, envelope: Envelope) -> Mail:
        """The mail of a booking event, to the address of the user who booked."""
        if stale(event.at, self.now()):
            raise Undelivered("stale", f"booking event of {event.at.isoformat()} is too old to mail")
        recipient = self._user(event.user)
        text = booking_text(event, event.user, recipient.timezone)
        headers = {"Booking": event.booking_id, "Event": event.kind}
        return Mail(
            recipient.email or "",
            text.subject,
            text.body,
            envelope.message_id,
            event.at,
            f"booking-{event.kind}",
            headers,
        )

    def _request(self, request: NotificationRequest, envelope: Envelope) -> Mail:
        """The mail an app instance asked for, within the per-instance and per-recipient bounds."""
        if stale(request.requested_at, self.now()):
            raise Undelivered("stale", f"request of {request.requested_at.isoformat()} is too old to mail")
        try:
            subject = check_header_text("subject", request.subject)
            to = check_recipient(request.to, self.policy.recipient_domains) if request.to else None
        except CanopyError as exc:
            raise Undelivered("refused", exc.message) from None
        if to is None:
            if not request.user:
                raise Undelivered(
                    "no-address", f"instance {request.instance_id} runs for no user and named no `to`"
                )
            to = self._user(request.user).email or ""
        keys = [("instance", request.instance_id), ("recipient", to)]
        self._check_rate(keys)
        self.limiter.record(keys)
        body = request_body(request.body, request.app_id, request.instance_id)
        headers = {"App": request.app_id, "Instance": request.instance_id}
        return Mail(to, subject, body, envelope.message_id, request.requested_at, "app-notification", headers)

    def _check_rate(self, keys: list[tuple[str, str]]) -> None:
        """Undelivered when the instance or the recipient is at its hourly limit, naming which."""
        full = [
            (kind, name, wait)
            for kind, name in keys
            if (wait := self.limiter.retry_after([(kind, name)])) > 0
        ]
        if full:
            kind, name, wait = full[0]
            limit = self.limiter.limits[kind]
            raise Undelivered(
                "rate-limited",
                f"{kind} {name} had {limit} mails this hour (CANOPY_MAIL_PER_{kind.upper()}); "
                f"room again in {wait:.0f} s",
            )

    def _user(self, name: str) -> Recipient:
        """The user's address and zone; Undelivered when the user is gone or has no usable address."""
        found = self.recipients(name)
        if found is None:
            raise Undelivered("no-address", f"user {name} does not exist")
        if not found.email:
            raise Undelivered(
                "no-address", f"user {name} has no e-mail address (PUT /api/v1/account sets it)"
            )
        try:
            return Recipient(parse_address(found.email, "email"), found.timezone)
        except CanopyError as exc:
            raise Undelivered("no-address", f"user {name}: {exc.message}") from None

    def _record(self, record: Record, kind: str, refused: Undelivered) -> None:
        """One log line, a count and a dead letter for a mail that was not sent."""
        MAILS.labels(kind, refused.outcome).inc()
        log.warning("mail %s not sent (%s): %s", kind, refused.outcome, refused.reason)
        reason = f"mail not sent ({refused.outcome}): {refused.reason}"
        publish(self.bus, dead_letter_for(record, self.group, reason), key=record.key)
        self.bus.flush()

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        while len(self._seen) > REMEMBERED_IDS:
            self._seen.popitem(last=False)
